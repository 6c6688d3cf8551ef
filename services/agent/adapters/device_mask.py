"""Hide the device nodes a kernel was not granted, inside its own mount namespace.

The process backend's one hook for accelerators. Each directory holding a hidden node is
rebuilt on a tmpfs with every other entry bind-mounted back (sub-mounts included), so the hidden
nodes do not exist for the kernel at all, rather than merely refusing it. The mounts are private
to the kernel's namespace (unshare makes propagation private). A backend on bubblewrap does the
same with `--dev /dev` (a fresh /dev without any GPU node), no view of the agent's device
directory (mock nodes), and `bwrap_device_args` for the granted nodes.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

_HIDE = r"""
hide() {
  d=$1; s=$2; shift 2
  mkdir -p "$s"
  mount --rbind "$d" "$s"
  mount -t tmpfs -o mode=755,nosuid shipyard-devices "$d"
  for e in "$s"/* "$s"/.[!.]* "$s"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/}
    for h in "$@"; do [ "$n" = "$h" ] && continue 2; done
    t=$d/$n
    if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$t"
    elif [ -d "$e" ]; then mkdir "$t" && mount --rbind "$e" "$t"
    else : >"$t" && mount --bind "$e" "$t"; fi
  done
  umount -l "$s" && rmdir "$s"
}
"""


def hidden_nodes(managed: Sequence[str], granted: Sequence[str]) -> list[str]:
    allowed = set(granted)
    return [n for n in dict.fromkeys(managed) if n not in allowed]


def mask_prefix(hidden: Sequence[str], stash_dir: Path) -> list[str]:
    """argv to put before the kernel's command, run inside its new mount namespace.

    Empty when nothing is to be hidden. `stash_dir` is a scratch directory of the agent's.
    """
    if not hidden:
        return []
    by_dir: dict[str, list[str]] = {}
    for node in hidden:
        path = Path(node)
        by_dir.setdefault(str(path.parent), []).append(path.name)
    calls = [
        " ".join(shlex.quote(a) for a in (directory, str(stash_dir / f"mask{i}"), *names))
        for i, (directory, names) in enumerate(sorted(by_dir.items()))
    ]
    script = "set -e\n" + _HIDE + "".join(f"hide {c}\n" for c in calls) + 'exec "$@"\n'
    return ["sh", "-c", script, "shipyard-device-mask"]


def bwrap_device_args(granted: Sequence[str]) -> list[str]:
    """The same promise on bubblewrap: after `--dev /dev`, bind in each granted node only."""
    return [arg for node in dict.fromkeys(granted) for arg in ("--dev-bind", node, node)]
