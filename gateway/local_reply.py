"""How Envoy words its own replies (404, 503, transcoder and authz errors): notes P6."""

from __future__ import annotations

from typing import Any

# HTTP status of an Envoy-generated reply -> the google.rpc.Code its JSON body carries, so every
# REST error body is google.rpc.Status-shaped (the inverse of the transcoder's mapping).
_HTTP_TO_GRPC_CODE = {
    400: 3, 401: 16, 403: 7, 404: 5, 408: 4, 409: 10, 413: 8, 429: 8,
    499: 1, 500: 13, 501: 12, 502: 14, 503: 14, 504: 4,
}  # fmt: skip
_UNKNOWN_CODE = 2
_UNAVAILABLE_CODE = 14
AUTHZ_UNAVAILABLE = "authorization service unavailable"

# A gRPC or gRPC-Web caller (grpc_web rewrote the content type). The transcoder sets
# application/grpc on REST requests too, but also x-envoy-original-path.
_GRPC_CALLER = [
    {"header_filter": {"header": {"name": "content-type",
                                  "string_match": {"prefix": "application/grpc"}}}},
    {"header_filter": {"header": {"name": "x-envoy-original-path", "present_match": True,
                                  "invert_match": True}}},
]  # fmt: skip
# ext_authz could not get an answer (status_on_error); its denials carry response flag UAEX too.
_AUTHZ_ERROR = {
    "extension_filter": {
        "name": "envoy.access_loggers.extension_filters.cel",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3."
            "ExpressionFilter",
            "expression": "response.code_details == 'ext_authz_error'",
        },
    }
}
_AUTHZ_DENIED = {"response_flag_filter": {"flags": ["UAEX"]}}


def local_reply_config() -> dict[str, Any]:
    """JSON {"code", "message"} for REST callers, plain text (grpc-message) for gRPC callers.

    The first matching mapper wins. Denials by the auth service keep its own (JSON) body.
    """
    plain = _text_format("%LOCAL_REPLY_BODY%")
    unavailable = {"inline_string": AUTHZ_UNAVAILABLE}
    mappers: list[dict[str, Any]] = [
        {
            "filter": {"and_filter": {"filters": [_AUTHZ_ERROR, *_GRPC_CALLER]}},
            "body": unavailable,
            "body_format_override": plain,
        },
        {"filter": {"and_filter": {"filters": _GRPC_CALLER}}, "body_format_override": plain},
        {
            "filter": _AUTHZ_ERROR,
            "body": unavailable,
            "body_format_override": _json_body(_UNAVAILABLE_CODE),
        },
        {
            "filter": _AUTHZ_DENIED,
            "body_format_override": {**plain, "content_type": "application/json"},
        },
    ]
    mappers += [
        {"filter": _status_filter(status), "body_format_override": _json_body(code)}
        for status, code in _HTTP_TO_GRPC_CODE.items()
    ]
    return {"mappers": mappers, "body_format": _json_body(_UNKNOWN_CODE)}


def _json_body(code: int) -> dict[str, Any]:
    return {"json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%"}}


def _text_format(template: str) -> dict[str, Any]:
    return {"text_format_source": {"inline_string": template}}


def _status_filter(status: int) -> dict[str, Any]:
    value = {"default_value": status, "runtime_key": "edge.local_reply_status"}  # key is required
    return {"status_code_filter": {"comparison": {"op": "EQ", "value": value}}}
