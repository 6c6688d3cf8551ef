"""Names the agent turns into paths: kernel ids and the directories folders mount at."""

from __future__ import annotations

import re

_KERNEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Folder names as storage allows them, dot-folders included (mounted at /home/work/<name>).
_MOUNT_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


def is_safe_kernel_id(kernel_id: str) -> bool:
    return _KERNEL_ID.fullmatch(kernel_id) is not None


def is_safe_mount_name(name: str) -> bool:
    """One path component that stays inside the work directory ("." and ".." do not)."""
    return _MOUNT_NAME.fullmatch(name) is not None and name not in (".", "..")
