"""Show a kernel only the device nodes it was granted (the process backend's accelerator hook).

bubblewrap's `--dev /dev` gives the sandbox a fresh /dev without any GPU node, and the agent's
device directory (mock nodes) is never bound in; `bwrap_device_args` then binds each granted
node at its host path, so a node the kernel was not granted does not exist for it at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def staged_name(index: int) -> str:
    """The node's file in the kernel's staging dir (vfolder names never start with a dot)."""
    return f".dev{index}"


def bwrap_device_args(granted: Sequence[str], staging: Path | None = None) -> list[str]:
    """After `--dev /dev`, bind in each granted node only, at its host path.

    With `staging` (a root agent), the source is the node's staged bind in that directory, which
    the kernel uid can reach even when the node's own directory is closed to it.
    """
    args: list[str] = []
    for i, node in enumerate(dict.fromkeys(granted)):
        source = str(staging / staged_name(i)) if staging is not None else node
        args += ["--dev-bind", source, node]
    return args
