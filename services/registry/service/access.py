"""Who may see or act on a session: the scope the access table grants, per verb."""

from __future__ import annotations

from libs.core import access
from libs.core.access import Resource, Scope, Verb
from libs.core.identity import Caller
from services.registry.domain.errors import SessionNotFound
from services.registry.domain.model import Session
from services.registry.service.ports import SessionFilter


def check_access(caller: Caller, session: Session, verb: Verb) -> None:
    """NOT_FOUND (never PERMISSION_DENIED) for a session outside the caller's scope, so that
    session ids of other tenants do not leak."""
    scope = access.scope_of(caller, Resource.SESSION, verb)
    # Sessions are personal objects billed to a project: project members do not share them.
    if not access.in_scope(
        caller,
        scope,
        owner_user_id=session.owner_user_id,
        owner_access_key=session.access_key,
        domain_name=session.domain_name,
    ):
        raise SessionNotFound(f"session {session.session_id} not found")


def list_filter(caller: Caller) -> SessionFilter:
    """The sessions a caller may list: their own, their domain's, or all."""
    scope = access.scope_of(caller, Resource.SESSION, Verb.READ)
    if caller.system or scope is Scope.ALL:
        return SessionFilter()
    if scope is Scope.DOMAIN:
        return SessionFilter(domain_name=caller.domain_name)
    # OWN (or NONE, which the interceptor already refused): the caller's sessions only.
    return SessionFilter(owner_user_id=caller.user_id)
