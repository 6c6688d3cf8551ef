"""The folder name rule, shared with the contract's buf.validate pattern."""

from __future__ import annotations

import re

from services.storage.domain.errors import InvalidVFolderName

# Same rule as CreateVFolderRequest.name; fullmatch so a trailing newline cannot slip through.
_NAME = re.compile(r"[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,63}")


def is_valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def check_name(name: str, field: str = "name") -> None:
    """Raise InvalidVFolderName (naming `field`) unless `name` is a valid folder name."""
    if not is_valid_name(name):
        raise InvalidVFolderName.for_field(field, name)
