"""Show a kernel only the device nodes it was granted (the process backend's accelerator hook).

bubblewrap's `--dev /dev` gives the sandbox a fresh /dev without any GPU node, and the agent's
device directory (mock nodes) is never bound in; `bwrap_device_args` then binds each granted
node at its host path, so a node the kernel was not granted does not exist for it at all.
"""

from __future__ import annotations

from collections.abc import Sequence


def bwrap_device_args(granted: Sequence[str]) -> list[str]:
    """After `--dev /dev`, bind in each granted node only."""
    return [arg for node in dict.fromkeys(granted) for arg in ("--dev-bind", node, node)]
