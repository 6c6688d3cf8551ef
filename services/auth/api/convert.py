"""Protobuf ⇄ auth's types: identities and Envoy ext_authz Check messages."""

from __future__ import annotations

import json

from envoy_ext_authz.v3 import external_auth_pb2 as authz
from google.rpc import code_pb2, status_pb2
from shipyard.type.v1 import identity_pb2

from libs.core.errors import ShipyardError
from libs.core.identity import Caller, Role, caller_to_headers
from services.auth.service.admission import Quota, RateLimited
from services.auth.service.verify import RequestFacts

ERROR_DOMAIN = "auth.shipyard"
_ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
_OVERWRITE = authz.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
_ROLES = {
    Role.USER: identity_pb2.ROLE_USER,
    Role.ADMIN: identity_pb2.ROLE_ADMIN,
    Role.SUPERADMIN: identity_pb2.ROLE_SUPERADMIN,
    Role.MONITOR: identity_pb2.ROLE_MONITOR,
}


def identity_to_pb(caller: Caller) -> identity_pb2.Identity:
    return identity_pb2.Identity(
        user_id=caller.user_id,
        access_key=caller.access_key,
        role=_ROLES[caller.role],
        domain_name=caller.domain_name,
        project_ids=list(caller.project_ids),
        email=caller.email,
    )


def facts_from_check(request: authz.CheckRequest) -> RequestFacts:
    """The client's original request: ext_authz runs before the transcoder rewrites it."""
    http = request.attributes.request.http
    return RequestFacts(
        method=http.method, path=http.path, host=http.host, headers=dict(http.headers)
    )


def rate_limit_headers(quota: Quota) -> list[authz.HeaderValueOption]:
    """X-RateLimit-* (Backend.AI's names), on allowed and refused responses alike."""
    values = {
        "x-ratelimit-limit": quota.limit,
        "x-ratelimit-remaining": quota.remaining,
        "x-ratelimit-window": quota.window_seconds,
    }
    return [
        authz.HeaderValueOption(
            header=authz.HeaderValue(key=key, value=str(value)), append_action=_OVERWRITE
        )
        for key, value in values.items()
    ]


def allow(caller: Caller, quota: Quota | None = None) -> authz.CheckResponse:
    """Forward the request with the caller's identity headers, minus the credential; the
    response to the client gets the rate-limit headers."""
    if not caller.user_id:
        # Services would see no user at all; never let that through as an allowed request.
        return deny_unavailable()
    headers = caller_to_headers(caller)
    # An empty value is removed rather than set, so a client-sent value can never survive.
    set_headers = [
        authz.HeaderValueOption(
            header=authz.HeaderValue(key=key, value=value), append_action=_OVERWRITE
        )
        for key, value in headers.items()
        if value
    ]
    remove = ["authorization", *(key for key, value in headers.items() if not value)]
    return authz.CheckResponse(
        status=status_pb2.Status(code=code_pb2.OK),
        ok_response=authz.OkHttpResponse(
            headers=set_headers,
            headers_to_remove=remove,
            response_headers_to_add=rate_limit_headers(quota) if quota else [],
        ),
    )


def deny(
    code: int,
    http_status: int,
    message: str,
    reason: str,
    *,
    grpc_caller: bool = False,
    headers: list[authz.HeaderValueOption] | None = None,
) -> authz.CheckResponse:
    """Envoy answers the client itself: a google.rpc.Status JSON body for REST callers, plain
    text for gRPC callers (Envoy turns the body into their grpc-message)."""
    if grpc_caller:
        content_type, text = "text/plain", f"{message} ({reason})"
    else:
        content_type = "application/json"
        text = json.dumps(
            {
                "code": code,
                "message": message,
                "details": [{"@type": _ERROR_INFO_TYPE, "reason": reason, "domain": ERROR_DOMAIN}],
            }
        )
    extra = list(headers or [])
    if grpc_caller:
        # Else Envoy derives grpc-status from the HTTP status (429 would become UNAVAILABLE).
        extra.append(
            authz.HeaderValueOption(
                header=authz.HeaderValue(key="grpc-status", value=str(code)),
                append_action=_OVERWRITE,
            )
        )
    return authz.CheckResponse(
        status=status_pb2.Status(code=code, message=message),
        denied_response=authz.DeniedHttpResponse(
            status=authz.HttpStatus(code=http_status),
            headers=[
                authz.HeaderValueOption(
                    header=authz.HeaderValue(key="content-type", value=content_type),
                    append_action=_OVERWRITE,
                ),
                *extra,
            ],
            body=text,
        ),
    )


def is_grpc(request: authz.CheckRequest) -> bool:
    content_type = request.attributes.request.http.headers.get("content-type", "")
    return content_type.startswith("application/grpc")


def deny_unauthenticated(error: ShipyardError, *, grpc_caller: bool = False) -> authz.CheckResponse:
    return deny(code_pb2.UNAUTHENTICATED, 401, error.message, error.reason, grpc_caller=grpc_caller)


def deny_rate_limited(error: RateLimited, *, grpc_caller: bool = False) -> authz.CheckResponse:
    return deny(
        code_pb2.RESOURCE_EXHAUSTED,
        429,
        error.message,
        error.reason,
        grpc_caller=grpc_caller,
        headers=rate_limit_headers(error.quota),
    )


def deny_unavailable(*, grpc_caller: bool = False) -> authz.CheckResponse:
    return deny(
        code_pb2.UNAVAILABLE,
        503,
        "authentication is temporarily unavailable",
        "AUTHENTICATION_UNAVAILABLE",
        grpc_caller=grpc_caller,
    )
