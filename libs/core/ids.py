"""Identifiers."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A new random UUID as text: the id format of every Shipyard resource."""
    return str(uuid.uuid4())


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
