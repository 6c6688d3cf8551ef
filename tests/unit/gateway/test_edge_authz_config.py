"""The edge's ext_authz filter in the generated bootstrap: which Check it asks, and how it fails."""

from __future__ import annotations

from tests.unit.gateway.bootstrap_json import (
    EXT_AUTHZ,
    IDENTITY_HEADERS,
    bootstrap_json,
    filters,
    settings,
)


def test_ext_authz_asks_auths_http_check_on_every_replica_and_fails_closed():
    edge = settings(authz_timeout_seconds=0.5, auth_authz_addr="10.0.0.1:50061,10.0.0.2:50061")
    boot = bootstrap_json(edge)
    authz = filters(boot)[EXT_AUTHZ]

    assert "grpc_service" not in authz
    service = authz["http_service"]
    assert service["server_uri"] == {
        "uri": "http://auth-authz",
        "cluster": "auth-authz",
        "timeout": "0.500s",
    }
    # Exactly what the signature check reads (method, path and Host always go).
    assert [p["exact"] for p in authz["allowed_headers"]["patterns"]] == [
        "authorization",
        "date",
        "x-backendai-date",
        "x-sorna-date",
        "x-backendai-version",
        "x-sorna-version",
        "content-type",
    ]
    response = service["authorization_response"]
    upstream = [p["exact"] for p in response["allowed_upstream_headers"]["patterns"]]
    # The identity headers and the identity reply; not the internal token, not the app host.
    assert upstream == [*IDENTITY_HEADERS[:7], "x-shipyard-identity-reply"]
    assert [p["exact"] for p in response["allowed_client_headers"]["patterns"]] == [
        "content-type",
        "grpc-status",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-window",
    ]
    assert authz.get("failure_mode_allow", False) is False
    assert authz["status_on_error"] == {"code": "ServiceUnavailable"}
    (cluster,) = [c for c in boot["static_resources"]["clusters"] if c["name"] == "auth-authz"]
    endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["address"] for e in endpoints] == [
        "10.0.0.1",
        "10.0.0.2",
    ]
    assert "typed_extension_protocol_options" not in cluster  # HTTP/1.1, not h2c


def test_ext_authz_over_grpc_fails_closed_on_the_auth_cluster():
    edge = settings(authz="grpc", authz_timeout_seconds=0.5)
    boot = bootstrap_json(edge)
    authz = filters(boot)[EXT_AUTHZ]

    assert authz["grpc_service"] == {"envoy_grpc": {"cluster_name": "auth"}, "timeout": "0.500s"}
    assert "auth-authz" not in {c["name"] for c in boot["static_resources"]["clusters"]}
    assert authz["transport_api_version"] == "V3"
    assert authz.get("failure_mode_allow", False) is False  # proto3 JSON leaves false out
    assert authz["status_on_error"] == {"code": "ServiceUnavailable"}
