"""The caller of the RPC being served, set by the identity interceptor."""

from __future__ import annotations

from contextvars import ContextVar

from libs.core.errors import PermissionDenied, Unauthenticated
from libs.core.identity import Caller

_caller: ContextVar[Caller | None] = ContextVar("shipyard_caller", default=None)


def set_caller(caller: Caller | None) -> None:
    _caller.set(caller)


def current_caller() -> Caller:
    """The authenticated caller; UNAUTHENTICATED when the request carried no identity."""
    caller = _caller.get()
    if caller is None:
        raise Unauthenticated("this call needs an authenticated caller")
    return caller


def require_system() -> Caller:
    """Only other Shipyard services (internal token, no user) may make this call."""
    caller = current_caller()
    if not caller.system:
        raise PermissionDenied("this call is internal to Shipyard")
    return caller
