"""Which variables a session's `environ` may not set for its kernels (one rule for all services).

The dynamic loader's `LD_*` variables (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...) and
`PYTHONHOME` would change what the kernel's own runtime loads; they are refused at CreateSession
with INVALID_ARGUMENT naming the field, and the agent refuses them again. `PATH` and the other
`PYTHON*` variables stay allowed: the sandbox wrapper names its programs by absolute path and the
kernel runner ignores PYTHON* (`python -I`), so they only affect the user's own commands.
"""

from __future__ import annotations

from collections.abc import Iterable

REFUSED_NAMES = frozenset({"PYTHONHOME"})
REFUSED_PREFIXES = ("LD_",)


def refused_environ(names: Iterable[str]) -> list[str]:
    """The names among `names` a kernel's environment may not set, in the given order."""
    return [n for n in names if n in REFUSED_NAMES or n.startswith(REFUSED_PREFIXES)]
