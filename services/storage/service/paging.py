"""Opaque page tokens: URL-safe base64 of a JSON keyset cursor (created_at, id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from libs.core.ids import is_uuid
from services.storage.domain.errors import InvalidPageToken
from services.storage.domain.model import Cursor

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def encode_token(cursor: Cursor) -> str:
    raw = json.dumps({"t": cursor.created_at.isoformat(), "i": cursor.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(token: str) -> Cursor | None:
    """The cursor in `token` ("" = the first page). InvalidPageToken for anything else."""
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        created_at = datetime.fromisoformat(data["t"])
        vfolder_id = data["i"]
    except (binascii.Error, UnicodeError, ValueError, KeyError, TypeError) as exc:
        raise InvalidPageToken from exc
    if created_at.tzinfo is None or not isinstance(vfolder_id, str) or not is_uuid(vfolder_id):
        raise InvalidPageToken
    return Cursor(created_at=created_at, id=vfolder_id)
