"""Paths inside a folder as users give them: relative, no "..", no NUL.

Lexical checks only. Symbolic links are the filesystem's business: the file adapter opens every
path beneath the folder's root so that a link leading outside is refused there too.
"""

from __future__ import annotations

from services.storage.domain.file_errors import InvalidPath

MAX_PATH = 4096


def path_parts(path: str, field: str, *, allow_root: bool = False) -> tuple[str, ...]:
    """The components of `path`; "", "." and "a/./b/" normalise; the root is () when allowed."""
    if "\x00" in path:
        raise InvalidPath.for_field(field, "must not contain NUL characters")
    if len(path) > MAX_PATH:
        raise InvalidPath.for_field(field, f"at most {MAX_PATH} characters")
    if path.startswith("/"):
        raise InvalidPath.for_field(field, "must be relative to the folder's root")
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InvalidPath.for_field(field, 'must not contain ".."')
    if not parts and not allow_root:
        raise InvalidPath.for_field(field, "must name something inside the folder, not its root")
    return parts


def joined(parts: tuple[str, ...]) -> str:
    return "/".join(parts) or "."
