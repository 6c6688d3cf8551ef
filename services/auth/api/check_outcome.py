"""The edge's signed-request check, one decision for both ext_authz transports.

`decide` turns the client request's facts into an Allow or a Deny; the gRPC Check
(api/ext_authz.py) and the HTTP Check (api/ext_authz_http.py) only encode it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from google.rpc import code_pb2

from libs.core.errors import ShipyardError, Unauthenticated
from libs.core.identity import Caller, caller_to_headers
from libs.core.identity_reply import (
    HEADER_IDENTITY_REPLY,
    MAX_REPLY_CHARS,
    encode_reply,
    is_identity_request,
)
from libs.core.signing import RATE_LIMIT_HEADERS
from services.auth.api.identity import identity_json
from services.auth.service.admission import Quota, RateLimited, SignedRequestAdmission
from services.auth.service.verify import RequestFacts

log = logging.getLogger(__name__)

ERROR_DOMAIN = "auth.shipyard"
_ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Allow:
    """Forward the request: set `upstream_headers` (overwriting the client's), remove
    `remove_headers`, and add `client_headers` to the response the client gets."""

    upstream_headers: Headers
    remove_headers: tuple[str, ...]
    client_headers: Headers
    http_status: int = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Deny:
    """Envoy answers the client itself with this status, these headers and this body."""

    code: int  # google.rpc.Code
    http_status: int
    message: str
    content_type: str
    body: str
    headers: Headers


Outcome = Allow | Deny


def is_grpc(content_type: str) -> bool:
    """A gRPC caller: its denial goes out as grpc-status and grpc-message."""
    return content_type.startswith("application/grpc")


async def decide(
    admission: SignedRequestAdmission, facts: RequestFacts, *, grpc_caller: bool
) -> Outcome:
    try:
        admitted = await admission.admit(facts)
    except RateLimited as exc:
        log.debug("rate-limited %s %s", facts.method, facts.path)
        return deny_rate_limited(exc, grpc_caller=grpc_caller)
    except Unauthenticated as exc:
        log.debug("denied %s %s: %s", facts.method, facts.path, exc.reason)
        return deny_unauthenticated(exc, grpc_caller=grpc_caller)
    except Exception:
        # Always an explicit deny (503), never an error left to Envoy's failure_mode_allow.
        log.exception("cannot verify %s %s", facts.method, facts.path)
        return deny_unavailable(grpc_caller=grpc_caller)
    # A REST GetCurrentIdentity is answered by the edge from this Check (no second call).
    answer = not grpc_caller and is_identity_request(facts.method, facts.path)
    return allow(admitted.caller, admitted.quota, answer_identity=answer)


def rate_limit_headers(quota: Quota) -> Headers:
    """X-RateLimit-* (Backend.AI's names), on allowed and refused responses alike."""
    values = (quota.limit, quota.remaining, quota.window_seconds)
    return tuple((name, str(value)) for name, value in zip(RATE_LIMIT_HEADERS, values, strict=True))


def allow(caller: Caller, quota: Quota | None = None, *, answer_identity: bool = False) -> Outcome:
    """The caller's identity headers, minus the credential; rate-limit headers to the client.
    With `answer_identity`, also GetCurrentIdentity's REST body for the edge to answer with."""
    if not caller.user_id:
        # Services would see no user at all; never let that through as an allowed request.
        return deny_unavailable()
    headers = caller_to_headers(caller)
    upstream = tuple((key, value) for key, value in headers.items() if value)
    if answer_identity and len(reply := encode_reply(identity_json(caller))) <= MAX_REPLY_CHARS:
        upstream += ((HEADER_IDENTITY_REPLY, reply),)
    # An empty value is removed rather than set, so a client-sent value can never survive.
    return Allow(
        upstream_headers=upstream,
        remove_headers=("authorization", *(key for key, value in headers.items() if not value)),
        client_headers=rate_limit_headers(quota) if quota else (),
    )


def deny(
    code: int,
    http_status: int,
    message: str,
    reason: str,
    *,
    grpc_caller: bool = False,
    headers: Headers = (),
) -> Deny:
    """A google.rpc.Status JSON body for REST callers, plain text for gRPC callers (Envoy
    turns the body into their grpc-message)."""
    if grpc_caller:
        # Else Envoy derives grpc-status from the HTTP status (429 would become UNAVAILABLE).
        return Deny(
            code=code,
            http_status=http_status,
            message=message,
            content_type="text/plain",
            body=f"{message} ({reason})",
            headers=(*headers, ("grpc-status", str(code))),
        )
    detail = {"@type": _ERROR_INFO_TYPE, "reason": reason, "domain": ERROR_DOMAIN}
    body = json.dumps({"code": code, "message": message, "details": [detail]})
    return Deny(
        code=code,
        http_status=http_status,
        message=message,
        content_type="application/json",
        body=body,
        headers=headers,
    )


def deny_unauthenticated(error: ShipyardError, *, grpc_caller: bool = False) -> Deny:
    return deny(code_pb2.UNAUTHENTICATED, 401, error.message, error.reason, grpc_caller=grpc_caller)


def deny_rate_limited(error: RateLimited, *, grpc_caller: bool = False) -> Deny:
    return deny(
        code_pb2.RESOURCE_EXHAUSTED,
        429,
        error.message,
        error.reason,
        grpc_caller=grpc_caller,
        headers=rate_limit_headers(error.quota),
    )


def deny_unavailable(*, grpc_caller: bool = False) -> Deny:
    return deny(
        code_pb2.UNAVAILABLE,
        503,
        "authentication is temporarily unavailable",
        "AUTHENTICATION_UNAVAILABLE",
        grpc_caller=grpc_caller,
    )
