"""Where folders appear inside a kernel: "name[/subpath][:kernel_path]" specs and their rules.

A folder mounts at /home/work/<name> unless the spec names a kernel path; a relative kernel path
is taken below /home/work. Kernel paths stay strictly below /home/work, avoid the names kernels
use themselves (`.ssh`, `.jupyter`, ...), and no two mounts of one session may overlap (the same
path, or one inside the other), so a mount can never hide another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from libs.core.errors import FieldViolation, InvalidArgument
from services.storage.domain.names import RESERVED, is_valid_name
from services.storage.domain.relpath import path_parts

WORKDIR = PurePosixPath("/home/work")
MAX_KERNEL_PATH = 512


class MountTargetRefused(InvalidArgument):
    reason = "MOUNT_TARGET_REFUSED"


@dataclass(frozen=True, slots=True)
class MountSpec:
    name: str
    subpath: tuple[str, ...]  # () for the whole folder
    kernel_path: str  # absolute


def default_target(name: str) -> str:
    return str(WORKDIR / name)


def parse_spec(text: str, field: str) -> MountSpec:
    source, _, target = text.partition(":")
    name, _, sub = source.partition("/")
    if not is_valid_name(name):
        raise InvalidArgument(
            f"{field}: {name!r} is not a valid folder name",
            violations=[FieldViolation(field, "the folder name is not valid")],
        )
    subpath = path_parts(sub, field, allow_root=True)
    return MountSpec(name, subpath, kernel_path(target, field) if target else default_target(name))


def kernel_path(text: str, field: str) -> str:
    """The absolute kernel path `text` names; MountTargetRefused outside the rules."""
    raw = PurePosixPath(text) if text.startswith("/") else WORKDIR / text
    parts = [p for p in raw.parts[1:] if p != "."]
    if ".." in parts or "\x00" in text or len(text) > MAX_KERNEL_PATH:
        raise _refused(field, text, 'must not contain ".." or NUL, at most 512 characters')
    path = PurePosixPath("/", *parts)
    if path == WORKDIR or WORKDIR not in path.parents:
        raise _refused(field, text, "must be a directory below /home/work")
    first = path.relative_to(WORKDIR).parts[0]
    if first in RESERVED:
        raise _refused(field, text, f"/home/work/{first} is reserved for the kernel")
    return str(path)


def check_overlaps(targets: Sequence[tuple[str, str]]) -> None:
    """Refuse two mounts at the same or nested kernel paths; `targets` is (field, path)."""
    seen: list[tuple[str, PurePosixPath]] = []
    for field, text in targets:
        path = PurePosixPath(text)
        for other_field, other in seen:
            if path == other or other in path.parents or path in other.parents:
                raise MountTargetRefused(
                    f"{field}: kernel path {path} overlaps with {other} ({other_field})",
                    violations=[FieldViolation(field, f"overlaps with {other} ({other_field})")],
                    metadata={"kernel_path": str(path), "overlaps": str(other)},
                )
        seen.append((field, path))


def _refused(field: str, text: str, rule: str) -> MountTargetRefused:
    return MountTargetRefused(
        f"{field}: kernel path {text!r} {rule}",
        violations=[FieldViolation(field, f"kernel path {rule}")],
        metadata={"kernel_path": text},
    )
