"""The edge's built-in route table: health, the public login routes, one route per public
service, REST, and a 404 for everything else (docs/edge-auth.md)."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.core.v3 import (
    DataSource,
    HeaderValue,
    HeaderValueOption,
    HeaderValueOptionHeaderAppendAction,
)
from envoy_data_plane.envoy.config.route.v3 import (
    DirectResponseAction,
    Route,
    RouteAction,
    RouteActionMaxStreamDuration,
    RouteConfiguration,
    RouteMatch,
    VirtualHost,
)
from envoy_data_plane.envoy.extensions.filters.http.cors.v3 import CorsPolicy
from envoy_data_plane.envoy.extensions.filters.http.ext_authz.v3 import ExtAuthzPerRoute
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any

from gateway import bearer
from gateway.bridge.envoy_routes import bridge_routes
from gateway.config import EdgeSettings
from gateway.identity_reply import identity_route
from gateway.transfer_routes import transfer_routes
from libs.core.identity import HEADER_INTERNAL_TOKEN
from libs.core.identity_reply import HEADER_IDENTITY_REPLY

EXT_AUTHZ = "envoy.filters.http.ext_authz"
CORS = "envoy.filters.http.cors"
HEALTH_PREFIX = "/grpc.health.v1.Health/"
REST_PREFIX = "/v1/"
REST_CLUSTER = "registry"  # never reached: see the REST route below
CORS_ALLOW_HEADERS = (
    "authorization, content-type, date, x-backendai-date, x-backendai-version, "
    "x-backendai-domain, x-grpc-web, x-user-agent, grpc-timeout, traceparent, tracestate"
)
CORS_EXPOSE_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin"


def _unbounded(cluster: str) -> RouteAction:
    """Streams and blocking calls may run long: no route timeout, but Envoy honours
    grpc-timeout."""
    return RouteAction(
        cluster=cluster,
        timeout=timedelta(0),
        max_stream_duration=RouteActionMaxStreamDuration(grpc_timeout_header_max=timedelta(0)),
    )


def route_config(settings: EdgeSettings) -> RouteConfiguration:
    routes = [
        Route(
            name="health",
            match=RouteMatch(prefix=HEALTH_PREFIX),
            route=RouteAction(cluster="registry", timeout=timedelta(seconds=5)),
            typed_per_filter_config={EXT_AUTHZ: authz_disabled()},
        )
    ]
    # Login and refresh need no credential: ext_authz never runs for them.
    routes += [
        Route(
            match=RouteMatch(path=path),
            route=RouteAction(
                cluster=settings.public_services[service], timeout=timedelta(seconds=15)
            ),
            typed_per_filter_config=_public_route_filters(settings),
        )
        for path, service in public_paths(settings)
    ]
    routes += transfer_routes(settings, ext_authz=EXT_AUTHZ, cors=CORS)
    # Streaming RPCs served as WebSocket/SSE, before the transcoder could claim their paths.
    routes += bridge_routes(settings)
    # A signed GET /v1/identity is answered by the edge (gateway/identity_reply.py).
    routes.append(identity_route(REST_CLUSTER))
    # After transcoding the route cache is cleared, so REST calls are routed by their gRPC path.
    routes += [
        Route(match=RouteMatch(prefix=f"/{svc}/"), route=_unbounded(upstream))
        for svc, upstream in sorted(settings.public_services.items())
    ]
    # A real route for REST paths so CORS applies to them (P1); the transcoder answers 404 for
    # any /v1/ path it cannot map, so nothing untranscoded reaches this cluster.
    routes.append(Route(match=RouteMatch(prefix=REST_PREFIX), route=_unbounded(REST_CLUSTER)))
    routes.append(
        Route(
            name="not_found",
            match=RouteMatch(prefix="/"),
            direct_response=DirectResponseAction(
                status=404, body=DataSource(inline_string="no such route")
            ),
            typed_per_filter_config={EXT_AUTHZ: authz_disabled()},
        )
    )
    # Added by the router, i.e. after ext_authz; header_mutation removed any client copy.
    token = HeaderValue(key=HEADER_INTERNAL_TOKEN, value=settings.internal_token.get_secret_value())
    vhost = VirtualHost(
        name="edge",
        domains=["*"],
        routes=routes,
        request_headers_to_add=[
            HeaderValueOption(
                header=token,
                append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
            )
        ],
        # Auth's answer for the edge alone; never forwarded, whatever route a request took.
        request_headers_to_remove=[HEADER_IDENTITY_REPLY],
    )
    if settings.cors_origins:
        vhost.typed_per_filter_config = {CORS: Any.pack(_cors_policy(settings.cors_origins))}
    return RouteConfiguration(name="edge", virtual_hosts=[vhost])


def _public_route_filters(settings: EdgeSettings) -> dict[str, Any]:
    filters = {EXT_AUTHZ: authz_disabled()}
    if settings.jwks_file is not None:  # the local_ratelimit filter exists
        limit = bearer.login_rate_limit(settings.login_rate_limit, settings.login_rate_window)
        filters[bearer.LOCAL_RATELIMIT] = Any.pack(limit)
    return filters


def public_paths(settings: EdgeSettings) -> list[tuple[str, str]]:
    return bearer.public_paths(settings.descriptor_set, set(settings.public_services))


def _cors_policy(origins: tuple[str, ...]) -> CorsPolicy:
    return CorsPolicy(
        allow_origin_string_match=[StringMatcher(exact=o) for o in origins],
        allow_methods="GET, POST, PUT, PATCH, DELETE, OPTIONS",
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        max_age="600",
        forward_not_matching_preflights=False,  # else a bad-origin OPTIONS goes upstream (P2)
    )


def authz_disabled() -> Any:
    return Any.pack(ExtAuthzPerRoute(disabled=True))
