"""The folder name rule, shared with the contract's buf.validate pattern.

Names starting with a dot are dot-folders (sessions mount them automatically); a few of them are
reserved because kernels use those paths themselves, and only `.local` may be a project folder.
"""

from __future__ import annotations

import re

from services.storage.domain.errors import InvalidVFolderName

# Same rule as CreateVFolderRequest.name; fullmatch so a trailing newline cannot slip through.
_NAME = re.compile(r"[a-zA-Z0-9._-]{1,64}")
RESERVED = frozenset({".", "..", ".terminfo", ".jupyter", ".ssh", ".config", ".tmux.conf"})
# The one dot-folder a project may own: each member gets a subdirectory of it.
PROJECT_DOT_FOLDER = ".local"


def is_valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None and name not in RESERVED


def check_name(name: str, field: str = "name", *, project: bool = False) -> None:
    """Raise InvalidVFolderName (naming `field`) unless `name` may name a (project) folder."""
    if not is_valid_name(name):
        raise InvalidVFolderName.for_field(field, name)
    if project and name.startswith(".") and name != PROJECT_DOT_FOLDER:
        rule = f'project folders cannot be dot-folders, except "{PROJECT_DOT_FOLDER}"'
        raise InvalidVFolderName.for_field(field, name, rule)
