"""How Envoy words its own replies (404, 503, transcoder and authz errors): notes P6."""

from __future__ import annotations

from envoy_data_plane.envoy.config.accesslog.v3 import (
    AccessLogFilter,
    AndFilter,
    ComparisonFilter,
    ComparisonFilterOp,
    ExtensionFilter,
    HeaderFilter,
    ResponseFlagFilter,
    StatusCodeFilter,
)
from envoy_data_plane.envoy.config.core.v3 import (
    DataSource,
    RuntimeUInt32,
    SubstitutionFormatString,
)
from envoy_data_plane.envoy.config.route.v3 import HeaderMatcher
from envoy_data_plane.envoy.extensions.access_loggers.filters.cel.v3 import ExpressionFilter
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    LocalReplyConfig,
    ResponseMapper,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any, Struct, Value

# HTTP status of an Envoy-generated reply -> the google.rpc.Code its JSON body carries, so every
# REST error body is google.rpc.Status-shaped (the inverse of the transcoder's mapping).
_HTTP_TO_GRPC_CODE = {
    400: 3, 401: 16, 403: 7, 404: 5, 408: 4, 409: 10, 413: 8, 429: 8,
    499: 1, 500: 13, 501: 12, 502: 14, 503: 14, 504: 4,
}  # fmt: skip
_UNKNOWN_CODE = 2
_UNAVAILABLE_CODE = 14
AUTHZ_UNAVAILABLE = "authorization service unavailable"
_BODY = "%LOCAL_REPLY_BODY%"


def _grpc_caller() -> list[AccessLogFilter]:
    """A gRPC or gRPC-Web caller (grpc_web rewrote the content type). The transcoder sets
    application/grpc on REST requests too, but also x-envoy-original-path."""
    grpc_type = HeaderMatcher(
        name="content-type", string_match=StringMatcher(prefix="application/grpc")
    )
    not_transcoded = HeaderMatcher(
        name="x-envoy-original-path", present_match=True, invert_match=True
    )
    return [
        AccessLogFilter(header_filter=HeaderFilter(header=grpc_type)),
        AccessLogFilter(header_filter=HeaderFilter(header=not_transcoded)),
    ]


def _code_details(details: str) -> AccessLogFilter:
    expression = ExpressionFilter(expression=f"response.code_details == '{details}'")
    return AccessLogFilter(
        extension_filter=ExtensionFilter(
            name="envoy.access_loggers.extension_filters.cel", typed_config=Any.pack(expression)
        )
    )


def _authz_error() -> AccessLogFilter:
    """ext_authz could not get an answer (status_on_error); its denials carry flag UAEX too."""
    return _code_details("ext_authz_error")


def _authz_denied() -> AccessLogFilter:
    return AccessLogFilter(response_flag_filter=ResponseFlagFilter(flags=["UAEX"]))


def _all(filters: list[AccessLogFilter]) -> AccessLogFilter:
    return AccessLogFilter(and_filter=AndFilter(filters=filters))


def local_reply_config() -> LocalReplyConfig:
    """JSON {"code", "message"} for REST callers, plain text (grpc-message) for gRPC callers.

    The first matching mapper wins. Denials by the auth service keep its own (JSON) body, and
    so does the identity the edge answers itself (gateway/identity_reply.py: a Lua reply).
    """
    unavailable = DataSource(inline_string=AUTHZ_UNAVAILABLE)
    mappers = [
        ResponseMapper(
            filter=_code_details("lua_response"),
            body_format_override=_text_format(_BODY, content_type="application/json"),
        ),
        ResponseMapper(
            filter=_all([_authz_error(), *_grpc_caller()]),
            body=unavailable,
            body_format_override=_text_format(_BODY),
        ),
        ResponseMapper(filter=_all(_grpc_caller()), body_format_override=_text_format(_BODY)),
        ResponseMapper(
            filter=_authz_error(),
            body=unavailable,
            body_format_override=_json_body(_UNAVAILABLE_CODE),
        ),
        ResponseMapper(
            filter=_authz_denied(),
            body_format_override=_text_format(_BODY, content_type="application/json"),
        ),
    ]
    mappers += [
        ResponseMapper(filter=_status_filter(status), body_format_override=_json_body(code))
        for status, code in _HTTP_TO_GRPC_CODE.items()
    ]
    return LocalReplyConfig(mappers=mappers, body_format=_json_body(_UNKNOWN_CODE))


def _json_body(code: int) -> SubstitutionFormatString:
    body = Struct(fields={"code": Value(number_value=code), "message": Value(string_value=_BODY)})
    return SubstitutionFormatString(json_format=body)


def _text_format(template: str, *, content_type: str = "") -> SubstitutionFormatString:
    return SubstitutionFormatString(
        text_format_source=DataSource(inline_string=template), content_type=content_type
    )


def _status_filter(status: int) -> AccessLogFilter:
    value = RuntimeUInt32(default_value=status, runtime_key="edge.local_reply_status")  # required
    return AccessLogFilter(
        status_code_filter=StatusCodeFilter(
            comparison=ComparisonFilter(op=ComparisonFilterOp.EQ, value=value)
        )
    )
