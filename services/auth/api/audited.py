"""Record every mutating admin call in the audit log, whatever its outcome.

`@audited(action, target_type, target)` wraps a servicer method. The servicer may call `note`
with what only the use case knows (the target's domain, a generated id), so that domain
admins see events about their domain even when a superadmin acted.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
from opentelemetry import trace

from libs.core.errors import ShipyardError
from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, caller_from_headers
from libs.grpcutil.context import current_caller
from services.auth.domain.audit import AuditEvent, outcome_of
from services.auth.service.audit import AuditLog


@dataclass(slots=True)
class _Notes:
    domain_name: str = ""
    target_id: str = ""
    detail: str = ""


_notes: ContextVar[_Notes | None] = ContextVar("audit_notes", default=None)


def note(*, domain_name: str = "", target_id: str = "", detail: str = "") -> None:
    notes = _notes.get()
    if notes is not None:
        notes.domain_name = domain_name or notes.domain_name
        notes.target_id = target_id or notes.target_id
        notes.detail = detail or notes.detail


class HasAudit(Protocol):
    audit: AuditLog


S = TypeVar("S", bound=HasAudit)
Req = TypeVar("Req")
Resp = TypeVar("Resp")
Method = Callable[[S, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


# Audited RPCs by method name (unique within auth), for calls refused before the servicer ran.
_AUDITED: dict[str, tuple[str, str, Callable[[Any], str]]] = {}


def audited(
    action: str, target_type: str, target: Callable[[Any], str]
) -> Callable[[Method[S, Req, Resp]], Method[S, Req, Resp]]:
    def wrap(method: Method[S, Req, Resp]) -> Method[S, Req, Resp]:
        _AUDITED[method.__name__] = (action, target_type, target)

        @functools.wraps(method)
        async def call(self: S, request: Req, context: grpc.aio.ServicerContext) -> Resp:
            notes = _Notes()
            token = _notes.set(notes)
            code, detail = "OK", ""
            try:
                return await method(self, request, context)
            except ShipyardError as exc:
                code, detail = exc.code, exc.message
                raise
            except Exception:
                code, detail = "INTERNAL", "internal error"
                raise
            finally:
                _notes.reset(token)
                await self.audit.record_quietly(
                    _event(action, target_type, target(request), notes, code, detail, context)
                )

        return call

    return wrap


class RefusalAudit:
    """The interceptor's refusal observer: audited RPCs refused before the servicer ran (no
    grant, invalid input) are recorded too. Identity headers count only with the token."""

    def __init__(self, audit: AuditLog, internal_token: str) -> None:
        self._audit = audit
        self._token = internal_token

    async def __call__(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, error: ShipyardError
    ) -> None:
        entry = _AUDITED.get(method.rpartition("/")[2])
        if entry is None:
            return
        action, target_type, target = entry
        metadata = _metadata(context)
        token = metadata.get(HEADER_INTERNAL_TOKEN, "")
        trusted = bool(token) and hmac.compare_digest(token, self._token)
        caller = (caller_from_headers(metadata) if trusted else None) or Caller()
        await self._audit.record_quietly(
            _event_for(caller, action, target_type, target(request), _Notes(), error, context)
        )


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


def _event_for(
    caller: Caller,
    action: str,
    target_type: str,
    target_id: str,
    notes: _Notes,
    error: ShipyardError,
    context: grpc.aio.ServicerContext,
) -> AuditEvent:
    return _event(action, target_type, target_id, notes, error.code, error.message, context, caller)


def _event(
    action: str,
    target_type: str,
    target_id: str,
    notes: _Notes,
    code: str,
    detail: str,
    context: grpc.aio.ServicerContext,
    caller: Caller | None = None,
) -> AuditEvent:
    caller = caller or current_caller()
    metadata = _metadata(context)
    return AuditEvent(
        action=action,
        outcome=outcome_of(code),
        actor_user_id=caller.user_id,
        actor_email=caller.email,
        actor_access_key=caller.access_key,
        target_type=target_type,
        target_id=notes.target_id or target_id,
        domain_name=notes.domain_name or caller.domain_name,
        status_code=code,
        detail=(detail or notes.detail)[:1024],
        trace_id=trace_id(metadata),
        client_address=client_address(metadata, context),
    )


def trace_id(metadata: dict[str, str]) -> str:
    """The request's trace id: the current span's, else the edge's traceparent or request id."""
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        return format(span.trace_id, "032x")
    parent = metadata.get("traceparent", "").split("-")
    if len(parent) == 4 and len(parent[1]) == 32:
        return parent[1]
    # Without tracing, Envoy's request id (a UUID) still ties the event to the access log.
    return metadata.get("x-request-id", "").replace("-", "")[:32]


def client_address(metadata: dict[str, str], context: grpc.aio.ServicerContext) -> str:
    forwarded = metadata.get("x-forwarded-for", "")
    if forwarded:
        return forwarded.split(",")[0].strip()[:64]
    return str(context.peer() or "")[:64]
