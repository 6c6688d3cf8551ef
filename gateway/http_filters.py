"""The edge's HTTP connection manager and its filter chain (docs/edge-auth.md).

Filter order: header_mutation -> cors -> grpc_web -> [jwt_authn -> local_ratelimit] ->
ext_authz -> lua (GET /v1/identity only) -> grpc_json_transcoder -> router.
"""

from __future__ import annotations

from envoy_data_plane.envoy.config.common.mutation_rules.v3 import (
    HeaderMutation as RemoveHeader,
)
from envoy_data_plane.envoy.config.core.v3 import Http1ProtocolOptions
from envoy_data_plane.envoy.config.route.v3 import RouteConfiguration
from envoy_data_plane.envoy.config.trace.v3 import OpenTelemetryConfig, TracingHttp
from envoy_data_plane.envoy.extensions.filters.http.cors.v3 import Cors
from envoy_data_plane.envoy.extensions.filters.http.grpc_json_transcoder.v3 import (
    GrpcJsonTranscoder,
    GrpcJsonTranscoderPrintOptions,
    GrpcJsonTranscoderRequestValidationOptions,
)
from envoy_data_plane.envoy.extensions.filters.http.grpc_web.v3 import GrpcWeb
from envoy_data_plane.envoy.extensions.filters.http.header_mutation.v3 import (
    HeaderMutation,
    Mutations,
)
from envoy_data_plane.envoy.extensions.filters.http.router.v3 import Router
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
    HttpConnectionManagerCodecType,
    HttpConnectionManagerTracing,
    HttpConnectionManagerUpgradeConfig,
    HttpFilter,
)
from envoy_data_plane.envoy.type.v3 import Percent
from envoy_data_plane.google.protobuf import Any

from gateway import apps, bearer
from gateway.authz_filter import ext_authz as ext_authz_config
from gateway.authz_filter import grpc_service
from gateway.config import EdgeSettings
from gateway.edge_routes import CORS, EXT_AUTHZ, public_paths
from gateway.identity_reply import lua_filter
from gateway.local_reply import local_reply_config
from libs.core.identity import HEADER_INTERNAL_TOKEN, IDENTITY_HEADERS
from libs.core.identity_reply import HEADER_IDENTITY_REPLY

HCM = "envoy.filters.network.http_connection_manager"
# Everything a client must never set itself: identity comes from ext_authz, the token from Envoy.
STRIPPED_REQUEST_HEADERS = (
    *IDENTITY_HEADERS,
    HEADER_INTERNAL_TOKEN,
    apps.HEADER_APP_HOST,
    HEADER_IDENTITY_REPLY,
)


def http_connection_manager(
    settings: EdgeSettings, route_config: RouteConfiguration | None
) -> HttpConnectionManager:
    """The edge's HTTP connection manager; `route_config` inline, or None (the caller sets
    where the routes come from, e.g. RDS)."""
    hcm = HttpConnectionManager(
        stat_prefix="edge",
        codec_type=HttpConnectionManagerCodecType.AUTO,  # HTTP/1.1 and h2c (gRPC), one port
        use_remote_address=True,  # the edge faces clients: XFF and the authz source are theirs
        http_protocol_options=Http1ProtocolOptions(enable_trailers=True),  # stream errors (P5)
        http_filters=_http_filters(settings),
        local_reply_config=local_reply_config(),
        # WebSockets for session apps (gateway/apps.py) and the bridge (gateway/bridge/). On for
        # the whole listener: Envoy picks the upgrade filter chain by the route matched before
        # jwt_authn set an app's header, so a per-route switch would come too late for apps.
        upgrade_configs=[HttpConnectionManagerUpgradeConfig(upgrade_type="websocket")],
    )
    if route_config is not None:
        hcm.route_config = route_config
    if settings.otlp_endpoint:
        otel = OpenTelemetryConfig(grpc_service=grpc_service("otlp", 1.0), service_name="edge")
        hcm.tracing = HttpConnectionManagerTracing(
            random_sampling=Percent(value=settings.trace_sampling_percent),
            spawn_upstream_span=True,
            provider=TracingHttp(name="envoy.tracers.opentelemetry", typed_config=Any.pack(otel)),
        )
    return hcm


def _http_filters(settings: EdgeSettings) -> list[HttpFilter]:
    strip = [RemoveHeader(remove=h) for h in STRIPPED_REQUEST_HEADERS]
    ext_authz = ext_authz_config(settings)
    bearer_filters: list[HttpFilter] = []
    if settings.jwks_file is not None:
        jwks = settings.jwks_file.read_text()
        bearer_filters = [
            bearer.jwt_authn_filter(
                jwks,
                public_paths(settings),
                settings.bearer_clock_skew_seconds,
                app=(
                    apps.provider(apps.app_key(settings.internal_token.get_secret_value())),
                    apps.requirement_rule(settings.app_domain),
                ),
            ),
            bearer.local_ratelimit_filter(settings.bearer_rate_limit, settings.bearer_rate_window),
        ]
        ext_authz.filter_enabled_metadata = bearer.ext_authz_unless_bearer()
    transcoder = GrpcJsonTranscoder(
        proto_descriptor=str(settings.descriptor_set.resolve()),
        services=sorted(settings.public_services),
        convert_grpc_status=True,  # JSON google.rpc.Status error bodies (needs P3)
        ignore_unknown_query_parameters=True,  # P4
        # An unmapped /v1/* path is answered 404.
        request_validation_options=GrpcJsonTranscoderRequestValidationOptions(
            reject_unknown_method=True
        ),
        print_options=GrpcJsonTranscoderPrintOptions(
            always_print_primitive_fields=True,
            preserve_proto_field_names=True,
            stream_newline_delimited=True,
        ),
    )
    return [
        # First, so that no route (not even one without ext_authz) sees a client's copy (P12).
        HttpFilter(
            name="envoy.filters.http.header_mutation",
            typed_config=Any.pack(HeaderMutation(mutations=Mutations(request_mutations=strip))),
        ),
        HttpFilter(name=CORS, typed_config=Any.pack(Cors())),
        HttpFilter(name="envoy.filters.http.grpc_web", typed_config=Any.pack(GrpcWeb())),
        # Bearer tokens are verified here, in Envoy; ext_authz then skips those requests.
        *bearer_filters,
        # Before the transcoder: auth sees the method, path+query, Host and Content-Type the
        # client signed (Backend.AI HMAC), not the transcoded POST /pkg.Service/Method.
        HttpFilter(name=EXT_AUTHZ, typed_config=Any.pack(ext_authz)),
        # After ext_authz (its answer) and before the transcoder (no call to auth follows).
        lua_filter(),
        HttpFilter(
            name="envoy.filters.http.grpc_json_transcoder", typed_config=Any.pack(transcoder)
        ),
        HttpFilter(name="envoy.filters.http.router", typed_config=Any.pack(Router())),
    ]
