"""Names the agent turns into paths: kernel ids and the directories folders mount at."""

from __future__ import annotations

import re

_KERNEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Folder names as storage allows them, dot-folders included (mounted at /home/work/<name>).
_MOUNT_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


def is_safe_kernel_id(kernel_id: str) -> bool:
    return _KERNEL_ID.fullmatch(kernel_id) is not None


def staged_mount(index: int) -> str:
    """The staging directory of a kernel's `index`-th mount (one folder may mount twice)."""
    return f"vf{index}"


def is_safe_kernel_path(path: str, workdir: str) -> bool:
    """An absolute path strictly below the work directory, with no "." or ".." components."""
    parts = path.split("/")
    return (
        path.startswith(workdir + "/")
        and len(path) <= 512
        and all(p not in ("", ".", "..") and "\x00" not in p for p in parts[1:])
    )


def is_safe_mount_name(name: str) -> bool:
    """One path component that stays inside the work directory ("." and ".." do not)."""
    return _MOUNT_NAME.fullmatch(name) is not None and name not in (".", "..")
