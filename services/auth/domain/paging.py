"""Keyset pagination: the page token is the last row's sort key, base64-wrapped."""

from __future__ import annotations

import base64
import binascii

from libs.core.errors import FieldViolation, InvalidArgument
from services.auth.domain.tenancy import PageRequest

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """The sort key a page token carries; INVALID_ARGUMENT naming page_token when garbled."""
    if not token:
        return ""
    try:
        padded = token + "=" * (-len(token) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument(
            "page_token is not a token from a previous response",
            violations=[FieldViolation("page_token", "not a token from a previous response")],
        ) from exc


def page_size(requested: int) -> int:
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def page_request(size: int, token: str) -> PageRequest:
    return PageRequest(size=page_size(size), after=decode_token(token))
