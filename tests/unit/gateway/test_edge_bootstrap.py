"""The generated Envoy bootstrap, checked as data (no Envoy process)."""

from __future__ import annotations

from pathlib import Path

from gateway.config import PUBLIC_SERVICES
from tests.unit.gateway.bootstrap_json import (
    EXT_AUTHZ,
    IDENTITY_HEADERS,
    INTERNAL_SERVICES,
    bootstrap_json,
    filters,
    hcm,
    route_for,
    settings,
    vhost,
)


def test_filter_order_puts_ext_authz_before_the_transcoder():
    names = [f["name"] for f in hcm(bootstrap_json(settings()))["http_filters"]]

    assert names == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.cors",
        "envoy.filters.http.grpc_web",
        EXT_AUTHZ,
        "envoy.filters.http.lua",  # answers a signed GET /v1/identity (gateway/identity_reply.py)
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]


def test_header_mutation_removes_every_client_supplied_identity_header():
    mutation = filters(bootstrap_json(settings()))["envoy.filters.http.header_mutation"]

    removed = [m["remove"] for m in mutation["mutations"]["request_mutations"]]
    assert removed == IDENTITY_HEADERS


def test_every_public_service_routes_to_its_upstream():
    boot = bootstrap_json(settings())

    for service, upstream in PUBLIC_SERVICES.items():
        assert route_for(boot, f"/{service}/")["route"]["cluster"] == upstream


def test_internal_services_have_no_route():
    routes = vhost(bootstrap_json(settings()))["routes"]
    prefixes = [r["match"]["prefix"] for r in routes if "prefix" in r["match"]]
    exact = [r["match"]["path"] for r in routes if "path" in r["match"]]
    assert not [p for p in exact if p.startswith(tuple(f"/{s}/" for s in INTERNAL_SERVICES))]

    for service in INTERNAL_SERVICES:
        matching = [p for p in prefixes if f"/{service}/Method".startswith(p)]
        assert matching == ["/"], service  # only the catch-all, which answers 404
    transcoded = filters(bootstrap_json(settings()))["envoy.filters.http.grpc_json_transcoder"]
    assert not set(INTERNAL_SERVICES) & set(transcoded["services"])


def test_catch_all_is_a_404_without_authz():
    route = vhost(bootstrap_json(settings()))["routes"][-1]

    assert route["match"] == {"prefix": "/"}
    assert route["direct_response"]["status"] == 404
    assert route["typed_per_filter_config"][EXT_AUTHZ]["disabled"] is True


def test_health_goes_to_registry_without_authz():
    route = route_for(bootstrap_json(settings()), "/grpc.health.v1.Health/")

    assert route["route"]["cluster"] == "registry"
    assert route["typed_per_filter_config"][EXT_AUTHZ]["disabled"] is True


def test_only_health_public_rpcs_transfers_and_404_disable_authz():
    routes = vhost(bootstrap_json(settings()))["routes"]

    no_authz = [
        r["match"].get("prefix") or r["match"]["path"]
        for r in routes
        if EXT_AUTHZ in r.get("typed_per_filter_config", {})
    ]
    login = "/shipyard.auth.v1.AuthenticationService/"
    assert no_authz == [
        "/grpc.health.v1.Health/",
        login + "Login",
        "/v1/auth:login",
        login + "RefreshToken",
        "/v1/auth:refresh",
        login + "Logout",
        "/v1/auth:logout",
        "/v1/storage/transfers/",  # the signed transfer token is checked by storage
        "/",
    ]
    assert route_for(bootstrap_json(settings()), "/v1/")["route"]["cluster"] == "registry"


def test_transcoder_serves_all_public_services_from_the_descriptor_set(tmp_path: Path):
    boot = bootstrap_json(settings(descriptor_set=tmp_path / "d.binpb"))
    transcoder = filters(boot)["envoy.filters.http.grpc_json_transcoder"]

    assert transcoder["proto_descriptor"] == str(tmp_path / "d.binpb")
    assert transcoder["services"] == sorted(PUBLIC_SERVICES)
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["ignore_unknown_query_parameters"] is True
    assert transcoder["request_validation_options"] == {"reject_unknown_method": True}
    assert transcoder["print_options"] == {
        "always_print_primitive_fields": True,
        "preserve_proto_field_names": True,
        "stream_newline_delimited": True,
    }


def test_internal_token_is_added_to_every_upstream_request():
    host = vhost(bootstrap_json(settings()))

    assert host["request_headers_to_add"] == [
        {
            "header": {"key": "x-shipyard-internal-token", "value": "s3cret"},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }
    ]
    # Route-level removal would run after ext_authz and drop the identity it injected (P12).
    assert all("request_headers_to_remove" not in r for r in host["routes"])


def test_listener_codec_trailers_and_admin_on_loopback():
    boot = bootstrap_json(settings(host="0.0.0.0", port=8443, admin_port=9000))
    manager = hcm(boot)

    assert boot["static_resources"]["listeners"][0]["address"]["socket_address"] == {
        "address": "0.0.0.0",
        "port_value": 8443,
    }
    assert manager.get("codec_type", "AUTO") == "AUTO"  # proto3 JSON leaves the default out
    assert manager["http_protocol_options"] == {"enable_trailers": True}
    assert boot["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9000,
    }


def test_upstream_clusters_speak_h2_and_resolve_names():
    boot = bootstrap_json(settings(storage_addr="storage.internal:7000"))
    clusters = {c["name"]: c for c in boot["static_resources"]["clusters"]}

    assert set(clusters) == {
        *("auth", "registry", "scheduler", "storage"),
        *("storage-http", "auth-authz"),
    }
    for name in ("auth", "registry", "scheduler", "storage"):
        options = clusters[name]["typed_extension_protocol_options"]
        (http,) = options.values()
        assert http["explicit_http_config"] == {"http2_protocol_options": {}}
    # Storage's transfer endpoints (tus, Range) and auth's HTTP Check are plain HTTP/1.1.
    assert "typed_extension_protocol_options" not in clusters["storage-http"]
    assert "typed_extension_protocol_options" not in clusters["auth-authz"]
    assert clusters["auth"]["type"] == "STATIC"
    assert clusters["storage"]["type"] == "STRICT_DNS"
    endpoint = clusters["storage"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "storage.internal",
        "port_value": 7000,
    }


def test_overload_manager_limits_downstream_connections():
    monitors = bootstrap_json(settings(max_connections=500))["overload_manager"][
        "resource_monitors"
    ]

    assert int(monitors[0]["typed_config"]["max_active_downstream_connections"]) == 500


def test_tracing_only_with_an_otlp_endpoint():
    without = bootstrap_json(settings())
    with_otlp = bootstrap_json(settings(otlp_endpoint="http://127.0.0.1:4317"))

    assert "tracing" not in hcm(without)
    tracing = hcm(with_otlp)["tracing"]
    assert tracing["spawn_upstream_span"] is True
    assert tracing["random_sampling"] == {"value": 100.0}
    assert tracing["provider"]["name"] == "envoy.tracers.opentelemetry"
    assert tracing["provider"]["typed_config"]["service_name"] == "edge"
    clusters = {c["name"]: c for c in with_otlp["static_resources"]["clusters"]}
    address = clusters["otlp"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert address["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 4317}


def test_cors_policy_only_with_origins():
    assert "typed_per_filter_config" not in vhost(bootstrap_json(settings()))

    host = vhost(bootstrap_json(settings(cors_origins="http://a.test,http://b.test")))
    policy = host["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert policy["allow_origin_string_match"] == [
        {"exact": "http://a.test"},
        {"exact": "http://b.test"},
    ]
    assert policy["forward_not_matching_preflights"] is False


def test_local_replies_are_plain_for_grpc_callers_and_keep_authz_denials():
    reply = hcm(bootstrap_json(settings()))["local_reply_config"]
    mappers = reply["mappers"]
    plain = {"text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"}}

    # The identity the edge answers itself (a Lua reply): its JSON body as is.
    lua = mappers[0]["filter"]["extension_filter"]["typed_config"]["expression"]
    assert lua == "response.code_details == 'lua_response'"
    assert mappers[0]["body_format_override"] == {**plain, "content_type": "application/json"}
    # authz down + gRPC caller, then any gRPC caller: plain text, it becomes grpc-message.
    assert [m["body_format_override"] for m in mappers[1:3]] == [plain, plain]
    assert "extension_filter" in mappers[1]["filter"]["and_filter"]["filters"][0]
    # authz down (REST): the edge's JSON; authz denial (REST): the auth service's body as is.
    assert mappers[3]["body_format_override"]["json_format"]["code"] == 14
    assert mappers[4]["filter"] == {"response_flag_filter": {"flags": ["UAEX"]}}
    assert mappers[4]["body_format_override"] == {**plain, "content_type": "application/json"}
    assert reply["body_format"]["json_format"] == {"code": 2, "message": "%LOCAL_REPLY_BODY%"}


def test_transfers_go_to_storage_http_with_only_the_token_as_credential():
    route = route_for(bootstrap_json(settings()), "/v1/storage/transfers/")

    assert route["route"]["cluster"] == "storage-http"
    filters = route["typed_per_filter_config"]
    assert filters[EXT_AUTHZ]["disabled"] is True
    assert filters["envoy.filters.http.grpc_json_transcoder"]["disabled"] is True
    assert "upload-offset" in filters["envoy.filters.http.cors"]["expose_headers"]


def test_without_storage_http_there_is_no_transfer_route():
    boot = bootstrap_json(settings(storage_http_addr=""))
    prefixes = [r["match"].get("prefix") for r in vhost(boot)["routes"]]

    assert "/v1/storage/transfers/" not in prefixes
    assert "storage-http" not in {c["name"] for c in boot["static_resources"]["clusters"]}
