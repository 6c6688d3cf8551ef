"""Who may see or change a session."""

from __future__ import annotations

from libs.core.identity import Caller
from services.registry.domain.errors import SessionNotFound
from services.registry.domain.model import Session


def check_owner(caller: Caller, session: Session) -> None:
    """Owners and admins only; others get NOT_FOUND so that ids do not leak."""
    if caller.is_admin:
        return
    if session.owner_user_id == caller.user_id or (
        caller.access_key and session.access_key == caller.access_key
    ):
        return
    raise SessionNotFound(f"session {session.session_id} not found")
