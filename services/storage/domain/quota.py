"""Quota scopes: every folder counts against its owner's scope on its volume.

A project folder belongs to `project:<project id>`, any other to `user:<owner id>`. A scope may
have a byte limit per volume (0 or none: unlimited). Who reads a scope: superadmins any; others
their own user scope and the scopes of projects they belong to. Only superadmins set limits.
"""

from __future__ import annotations

import uuid

from libs.core.errors import FieldViolation, InvalidArgument, NotFound, ResourceExhausted
from libs.core.identity import Caller, Role
from services.storage.domain.model import VFolder

KINDS = ("user", "project")


class QuotaScopeNotFound(NotFound):
    reason = "QUOTA_SCOPE_NOT_FOUND"


class QuotaScopeFull(ResourceExhausted):
    """Storing this would take the scope past its limit."""

    reason = "QUOTA_EXCEEDED"


def scope_of(folder: VFolder) -> str:
    if folder.project_id:
        return f"project:{folder.project_id.lower()}"
    return f"user:{folder.owner_user_id.lower()}"


def parse_scope_id(text: str, field: str = "scope_id") -> str:
    """The canonical form of `text` ("user:<uuid>" / "project:<uuid>")."""
    kind, _, ident = text.partition(":")
    try:
        canonical = str(uuid.UUID(ident))
    except ValueError:
        canonical = ""
    if kind not in KINDS or not canonical:
        rule = 'must be "user:<uuid>" or "project:<uuid>"'
        raise InvalidArgument(f"invalid {field}: {rule}", violations=[FieldViolation(field, rule)])
    return f"{kind}:{canonical}"


def may_read(caller: Caller, scope_id: str) -> bool:
    if caller.system or caller.role is Role.SUPERADMIN:
        return True
    kind, _, ident = scope_id.partition(":")
    if kind == "user":
        return ident == caller.user_id.lower()
    return ident in {p.lower() for p in caller.project_ids}


def room_left(limit_bytes: int, used_bytes: int) -> int | None:
    """Bytes the scope may still take; None when it has no limit."""
    if limit_bytes <= 0:
        return None
    return max(0, limit_bytes - used_bytes)
