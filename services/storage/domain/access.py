"""Who may see and manage which folder."""

from __future__ import annotations

import uuid

from libs.core.identity import Caller
from services.storage.domain.errors import UserCallerRequired
from services.storage.domain.model import VFolder


def canonical_id(text: str) -> str | None:
    """`text` as a lower-case hyphenated UUID, or None when it is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def owner_id_of(caller: Caller) -> str:
    """The caller's user id, canonical; UserCallerRequired for callers without one."""
    user_id = canonical_id(caller.user_id)
    if user_id is None:
        raise UserCallerRequired("this call needs a user caller")
    return user_id


def list_scope(caller: Caller) -> str | None:
    """The owner whose folders the caller lists; None means every folder (superadmins)."""
    return None if caller.is_superadmin else owner_id_of(caller)


def may_manage(caller: Caller, folder: VFolder) -> bool:
    return caller.is_superadmin or canonical_id(caller.user_id) == folder.owner_user_id
