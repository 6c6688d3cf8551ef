"""The Envoy bootstrap of the edge, generated from EdgeSettings (docs/edge-auth.md).

One listener serves REST/JSON (transcoded), native gRPC and gRPC-Web. Filter order:
header_mutation -> cors -> grpc_web -> ext_authz -> grpc_json_transcoder -> router.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any, get_args

from gateway import bearer
from gateway.config import EdgeSettings, Upstream, split_addr
from gateway.local_reply import local_reply_config
from libs.core.identity import HEADER_INTERNAL_TOKEN, IDENTITY_HEADERS

# Everything a client must never set itself: identity comes from ext_authz, the token from Envoy.
STRIPPED_REQUEST_HEADERS = (*IDENTITY_HEADERS, HEADER_INTERNAL_TOKEN)
HEALTH_PREFIX = "/grpc.health.v1.Health/"
REST_PREFIX = "/v1/"
CORS_ALLOW_HEADERS = (
    "authorization, content-type, date, x-backendai-date, x-backendai-version, "
    "x-backendai-domain, x-grpc-web, x-user-agent, grpc-timeout, traceparent, tracestate"
)
CORS_EXPOSE_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin"

_T = "type.googleapis.com/envoy."
_EXT_AUTHZ = "envoy.filters.http.ext_authz"
_CORS = "envoy.filters.http.cors"


def build_bootstrap(settings: EdgeSettings) -> dict[str, Any]:
    """The complete static bootstrap as a JSON-ready dict."""
    clusters = [_cluster(name, settings.upstream_addrs(name)) for name in upstreams(settings)]
    if settings.otlp_endpoint:
        clusters.append(_cluster("otlp", [split_addr(settings.otlp_endpoint)]))
    chain: dict[str, Any] = {"filters": [http_connection_manager(settings)]}
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        chain["transport_socket"] = _tls(settings.tls_cert_file, settings.tls_key_file)
    listener = {
        "name": "edge",
        "address": _socket(settings.host, settings.port),
        "filter_chains": [chain],
    }
    monitor = {
        "name": "envoy.resource_monitors.global_downstream_max_connections",
        "typed_config": {
            "@type": _T + "extensions.resource_monitors.downstream_connections.v3."
            "DownstreamConnectionsConfig",
            "max_active_downstream_connections": settings.max_connections,
        },
    }
    return {
        "node": {"id": "edge", "cluster": "edge"},
        "admin": {"address": _socket("127.0.0.1", settings.admin_port)},
        "static_resources": {"listeners": [listener], "clusters": clusters},
        "overload_manager": {"resource_monitors": [monitor]},
    }


def write_bootstrap(settings: EdgeSettings, path: Path) -> Path:
    """Write the bootstrap as JSON, readable by its owner only (it holds the internal token)."""
    return write_json(build_bootstrap(settings), path)


def write_json(config: dict[str, Any], path: Path) -> Path:
    """`config` as JSON in a file only its owner can read."""
    data = json.dumps(config, indent=2).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file already existed
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def upstreams(settings: EdgeSettings) -> list[Upstream]:
    # auth serves ext_authz and registry serves health even when no public service maps to them.
    wanted = {"auth", "registry", *settings.public_services.values()}
    return [u for u in get_args(Upstream) if u in wanted]


def http_connection_manager(settings: EdgeSettings) -> dict[str, Any]:
    hcm: dict[str, Any] = {
        "@type": _T + "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "edge",
        "codec_type": "AUTO",  # HTTP/1.1 and h2c (gRPC) on the same port
        "use_remote_address": True,  # the edge faces clients: XFF and the authz source are theirs
        "http_protocol_options": {"enable_trailers": True},  # HTTP/1.1 stream errors (P5)
        "route_config": route_config(settings),
        "http_filters": _http_filters(settings),
        "local_reply_config": local_reply_config(),
    }
    if settings.otlp_endpoint:
        hcm["tracing"] = {
            "random_sampling": {"value": settings.trace_sampling_percent},
            "spawn_upstream_span": True,
            "provider": {
                "name": "envoy.tracers.opentelemetry",
                "typed_config": {
                    "@type": _T + "config.trace.v3.OpenTelemetryConfig",
                    "grpc_service": {"envoy_grpc": {"cluster_name": "otlp"}, "timeout": "1s"},
                    "service_name": "edge",
                },
            },
        }
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}


def _http_filters(settings: EdgeSettings) -> list[dict[str, Any]]:
    strip = [{"remove": h} for h in STRIPPED_REQUEST_HEADERS]
    ext_authz = {
        "@type": _T + "extensions.filters.http.ext_authz.v3.ExtAuthz",
        "transport_api_version": "V3",
        "grpc_service": {
            "envoy_grpc": {"cluster_name": "auth"},
            "timeout": f"{settings.authz_timeout_seconds}s",
        },
        "failure_mode_allow": False,
        "status_on_error": {"code": "ServiceUnavailable"},
    }
    bearer_filters: list[dict[str, Any]] = []
    if settings.jwks_file is not None:
        jwks = settings.jwks_file.read_text()
        public = _public_paths(settings)
        bearer_filters = [
            bearer.jwt_authn_filter(jwks, public, settings.bearer_clock_skew_seconds),
            bearer.local_ratelimit_filter(settings.bearer_rate_limit, settings.bearer_rate_window),
        ]
        ext_authz["filter_enabled_metadata"] = bearer.ext_authz_unless_bearer()
    transcoder = {
        "@type": _T + "extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        "proto_descriptor": str(settings.descriptor_set.resolve()),
        "services": sorted(settings.public_services),
        "convert_grpc_status": True,  # JSON google.rpc.Status error bodies (needs P3)
        "ignore_unknown_query_parameters": True,  # P4
        "request_validation_options": {"reject_unknown_method": True},  # unmapped /v1/* -> 404
        "print_options": {
            "always_print_primitive_fields": True,
            "preserve_proto_field_names": True,
            "stream_newline_delimited": True,
        },
    }
    return [
        # First, so that no route (not even one without ext_authz) sees a client's copy (P12).
        _filter(
            "envoy.filters.http.header_mutation",
            _T + "extensions.filters.http.header_mutation.v3.HeaderMutation",
            mutations={"request_mutations": strip},
        ),
        _filter(_CORS, _T + "extensions.filters.http.cors.v3.Cors"),
        _filter("envoy.filters.http.grpc_web", _T + "extensions.filters.http.grpc_web.v3.GrpcWeb"),
        # Bearer tokens are verified here, in Envoy; ext_authz then skips those requests.
        *bearer_filters,
        # Before the transcoder: auth sees the method, path+query, Host and Content-Type the
        # client signed (Backend.AI HMAC), not the transcoded POST /pkg.Service/Method.
        {"name": _EXT_AUTHZ, "typed_config": ext_authz},
        {"name": "envoy.filters.http.grpc_json_transcoder", "typed_config": transcoder},
        _filter("envoy.filters.http.router", _T + "extensions.filters.http.router.v3.Router"),
    ]


def route_config(settings: EdgeSettings) -> dict[str, Any]:
    # Streams and blocking calls may run long: no route timeout, but Envoy honours grpc-timeout.
    no_timeout = {"timeout": "0s", "max_stream_duration": {"grpc_timeout_header_max": "0s"}}
    routes: list[dict[str, Any]] = [
        {
            "name": "health",
            "match": {"prefix": HEALTH_PREFIX},
            "route": {"cluster": "registry", "timeout": "5s"},
            "typed_per_filter_config": {_EXT_AUTHZ: _authz_disabled()},
        }
    ]
    # Login and refresh need no credential: ext_authz never runs for them.
    routes += [
        {
            "match": {"path": path},
            "route": {"cluster": settings.public_services[service], "timeout": "15s"},
            "typed_per_filter_config": _public_route_filters(settings),
        }
        for path, service in _public_paths(settings)
    ]
    # After transcoding the route cache is cleared, so REST calls are routed by their gRPC path.
    routes += [
        {"match": {"prefix": f"/{svc}/"}, "route": {"cluster": upstream, **no_timeout}}
        for svc, upstream in sorted(settings.public_services.items())
    ]
    # A real route for REST paths so CORS applies to them (P1); the transcoder answers 404 for
    # any /v1/ path it cannot map, so nothing untranscoded reaches this cluster.
    routes.append(
        {"match": {"prefix": REST_PREFIX}, "route": {"cluster": "registry", **no_timeout}}
    )
    routes.append(
        {
            "name": "not_found",
            "match": {"prefix": "/"},
            "direct_response": {"status": 404, "body": {"inline_string": "no such route"}},
            "typed_per_filter_config": {_EXT_AUTHZ: _authz_disabled()},
        }
    )
    vhost: dict[str, Any] = {
        "name": "edge",
        "domains": ["*"],
        "routes": routes,
        # Added by the router, i.e. after ext_authz; header_mutation removed any client copy.
        "request_headers_to_add": [
            {
                "header": {
                    "key": HEADER_INTERNAL_TOKEN,
                    "value": settings.internal_token.get_secret_value(),
                },
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
    }
    if settings.cors_origins:
        vhost["typed_per_filter_config"] = {_CORS: _cors_policy(settings.cors_origins)}
    return {"name": "edge", "virtual_hosts": [vhost]}


def _public_route_filters(settings: EdgeSettings) -> dict[str, Any]:
    filters: dict[str, Any] = {_EXT_AUTHZ: _authz_disabled()}
    if settings.jwks_file is not None:  # the local_ratelimit filter exists
        filters[bearer.LOCAL_RATELIMIT] = bearer.login_rate_limit(
            settings.login_rate_limit, settings.login_rate_window
        )
    return filters


def _public_paths(settings: EdgeSettings) -> list[tuple[str, str]]:
    return bearer.public_paths(settings.descriptor_set, set(settings.public_services))


def _cors_policy(origins: tuple[str, ...]) -> dict[str, Any]:
    return {
        "@type": _T + "extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [{"exact": o} for o in origins],
        "allow_methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        "allow_headers": CORS_ALLOW_HEADERS,
        "expose_headers": CORS_EXPOSE_HEADERS,
        "max_age": "600",
        "forward_not_matching_preflights": False,  # else a bad-origin OPTIONS goes upstream (P2)
    }


def _authz_disabled() -> dict[str, Any]:
    return {"@type": _T + "extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", "disabled": True}


def _filter(name: str, type_url: str, **config: Any) -> dict[str, Any]:
    return {"name": name, "typed_config": {"@type": type_url, **config}}


def _tls(cert: Path, key: Path) -> dict[str, Any]:
    """HTTPS and gRPC over TLS on the same port (ALPN picks h2 or HTTP/1.1)."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": _T + "extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": str(cert.resolve())},
                        "private_key": {"filename": str(key.resolve())},
                    }
                ],
                "alpn_protocols": ["h2", "http/1.1"],
            },
        },
    }


def _socket(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _cluster(name: str, addrs: list[tuple[str, int]]) -> dict[str, Any]:
    try:
        for host, _ in addrs:
            ipaddress.ip_address(host)
        discovery = "STATIC"
    except ValueError:
        discovery = "STRICT_DNS"  # a name: every A record is an endpoint (service replicas)
    endpoints = [{"endpoint": {"address": _socket(host, port)}} for host, port in addrs]
    return {
        "name": name,
        "type": discovery,
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _T + "extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},  # gRPC upstreams: h2c
            }
        },
    }
