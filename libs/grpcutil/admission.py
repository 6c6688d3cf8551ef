"""What the server interceptor checks before a servicer runs: who calls (identity headers,
trusted only with the deployment's internal token), whether the method's access rule lets them,
and the request's buf.validate rules."""

from __future__ import annotations

import hmac
from typing import Any

import grpc
import protovalidate
from google.protobuf.message import Message

from libs.core import access, rpc_access
from libs.core.errors import FieldViolation, InvalidArgument, PermissionDenied, Unauthenticated
from libs.core.identity import (
    HEADER_INTERNAL_TOKEN,
    HEADER_SYSTEM,
    SYSTEM_CALLER,
    Caller,
    caller_from_headers,
)


def text_metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    """The call's text metadata (binary `-bin` values left out), read once per call."""
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


def caller_from_metadata(metadata: dict[str, str], internal_token: str) -> Caller | None:
    """The caller the identity headers name; None without the internal token (Envoy adds it) or
    without an identity. Another Shipyard service says so explicitly (`x-shipyard-system`)."""
    token = metadata.get(HEADER_INTERNAL_TOKEN, "")
    if not token or not hmac.compare_digest(token, internal_token):
        return None
    caller = caller_from_headers(metadata)
    if caller is None and metadata.get(HEADER_SYSTEM) == "1":
        return SYSTEM_CALLER
    return caller


def authorize(method: str, caller: Caller | None) -> None:
    """Refuse `caller` unless `method`'s access rule allows it (no rule: refused for everyone)."""
    rule = rpc_access.rule_for(method)
    if rule is None:
        raise PermissionDenied(f"{method} has no access rule")
    if rule.public:
        return
    if caller is None:
        raise Unauthenticated("this call needs an authenticated caller")
    if not access.allows(caller, rule):
        what = "internal to Shipyard" if rule.system else f"not allowed for role {caller.role}"
        raise PermissionDenied(f"{method} is {what}")


def validate(validator: protovalidate.Validator, request: Message) -> None:
    """INVALID_ARGUMENT (with one BadRequest violation per field) unless `request` keeps its
    buf.validate rules."""
    violations = validator.collect_violations(request)
    if violations:
        found = [FieldViolation(_field_path(v.proto.field), v.proto.message) for v in violations]
        summary = "; ".join(f"{v.field}: {v.description}" for v in found)
        raise InvalidArgument(f"invalid request: {summary}", violations=found)


def _field_path(path: Any) -> str:
    return ".".join(e.field_name for e in path.elements) if path is not None else ""
