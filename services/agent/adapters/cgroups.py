"""Per-kernel cgroups for the process backend: v1 or v2, whichever the agent can write to.

`probe_cgroups` makes the agent's OWN parent group(s), `shipyard/<owner>`, under its own cgroups
(rule R-OWN-STATE in docs/reliability.md): agents on one host share only the `shipyard` level,
which none of them removes; `ensure_parents` recreates an owner's parents if they vanished and
`parents_problem` tells the health probe whether they are usable;
`make_kernel_cgroups` gives each kernel its own limited group(s) below them; `join_command` is the
`sh` wrapper that puts the kernel into them before anything else runs (or, without cgroups, caps its
memory with `ulimit -v`); `oom_killed`, `signal_members` and `remove_cgroups` serve its teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from services.agent.domain.resources import own_cgroup_dir

log = logging.getLogger(__name__)

CGROUP_PARENT = "shipyard"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# Joins every cgroup.procs file given before "--", then execs the rest (see join_command).
WRAPPER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; {}exec "$@"'


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    version: int
    # The agent's own parents, `.../shipyard/<owner>`: v1 one per controller (memory, cpu, pids);
    # v2 one.
    parents: tuple[Path, ...]


def owner_name(agent_id: str) -> str:
    """A directory name for `agent_id` (hostnames and ids may carry characters paths must not)."""
    name = _UNSAFE.sub("_", agent_id)[:128]
    return name if name.strip(".") else "agent"


def probe_cgroups(owner: str) -> CgroupLayout | None:
    """Make `shipyard/<owner>` under the agent's own groups: v1 first, then v2."""
    own = owner_name(owner)
    v1 = [own_cgroup_dir("memory"), own_cgroup_dir("cpu")]
    if all(v1):
        v1.append(own_cgroup_dir("pids"))  # optional: without it the pids limit is not enforced
        with contextlib.suppress(OSError):
            # dict.fromkeys: co-mounted controllers share one directory.
            parents = tuple(dict.fromkeys(d / CGROUP_PARENT / own for d in v1 if d is not None))
            layout = CgroupLayout(1, parents)
            ensure_parents(layout)
            return layout
    v2 = own_cgroup_dir()
    # Only controllers in our own subtree_control can be handed to children (v2 rule).
    if v2 is not None and {"memory", "cpu"} <= set(_read(v2 / "cgroup.subtree_control").split()):
        with contextlib.suppress(OSError):
            layout = CgroupLayout(2, (v2 / CGROUP_PARENT / own,))
            ensure_parents(layout)
            return layout
    return None


def ensure_parents(layout: CgroupLayout) -> None:
    """(Re)create the owner's parent groups, and the shared `shipyard` level above them."""
    for parent in layout.parents:
        if layout.version == 1:
            parent.mkdir(parents=True, exist_ok=True)
            continue
        for level in (parent.parent, parent):
            level.mkdir(exist_ok=True)
            wanted = {"memory", "cpu", "pids"} & set(
                _read(level.parent / "cgroup.subtree_control").split()
            )
            enabled = set(_read(level / "cgroup.subtree_control").split())
            if not wanted <= enabled:
                (level / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))


def parents_problem(layout: CgroupLayout) -> str | None:
    """Why kernels could not get groups now (None: the parents exist and are writable)."""
    for parent in layout.parents:
        if not parent.is_dir():
            return f"cgroup parent {parent} is missing"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"cgroup parent {parent} is not writable"
    return None


def remove_parents(layout: CgroupLayout) -> None:
    """Remove the owner's own parents (only if empty); never the shared `shipyard` level."""
    for parent in layout.parents:
        with contextlib.suppress(OSError):
            parent.rmdir()


def make_kernel_cgroups(
    layout: CgroupLayout | None, name: str, cpu: Decimal, mem_bytes: int, pids: int = 0
) -> list[Path]:
    """One group per parent, called `name` and limited to `cpu` / `mem_bytes` / `pids` processes
    (0: unlimited)."""
    if layout is None:
        return []
    if any(not parent.is_dir() for parent in layout.parents):
        log.warning("cgroup parents %s vanished; recreating them", layout.parents)
        ensure_parents(layout)
    made: list[Path] = []
    try:
        for parent in layout.parents:
            group = parent / name
            if group.is_dir():
                group.rmdir()  # an empty leftover goes; a live one (EBUSY) must not be shared
            group.mkdir()
            made.append(group)
            _limit(layout.version, group, cpu, mem_bytes)
            if pids > 0 and (group / "pids.max").exists():  # a fork bomb ends at this limit
                (group / "pids.max").write_text(str(pids))
    except OSError:
        discard_cgroups(made)
        raise
    return made


def set_limits(version: int, groups: list[Path], cpu: Decimal, mem_bytes: int) -> None:
    """Limit a running kernel's `groups` to `cpu` / `mem_bytes` (0: leave as they are)."""
    for group in groups:
        _limit(version, group, cpu, mem_bytes)


def set_cpu_weight(groups: list[Path], *, low: bool) -> None:
    """The lowest CPU weight (a pre-started kernel starting in the background) or the default."""
    for group in groups:
        for name, lowest, default in (("cpu.shares", 2, 1024), ("cpu.weight", 1, 100)):  # v1, v2
            if (group / name).exists():
                (group / name).write_text(str(lowest if low else default))


def rename_cgroup(group: Path, name: str) -> Path:
    """Rename a (cgroup v1) group in place, its members and charges staying; an empty leftover
    of that name goes first, a busy one makes this fail."""
    target = group.with_name(name)
    with contextlib.suppress(FileNotFoundError):
        target.rmdir()
    group.rename(target)
    return target


THREAD_STACK_KIB = 2048  # under RLIMIT_AS: the main and each new thread's stack (2 MiB)


def join_command(groups: list[Path], mem_bytes: int, sh: str = "/bin/sh") -> list[str]:
    """The argv prefix that joins `groups` and then execs whatever follows it.

    Without groups, a positive `mem_bytes` becomes `ulimit -v` (RLIMIT_AS) instead, with the
    stack limit lowered first: glibc sizes every new thread's stack by it (8 MiB by default),
    and a few threads' stacks (a notebook kernel starts several) would use up a small RLIMIT_AS.
    """
    ulimit = ""
    if not groups and mem_bytes > 0:
        ulimit = (
            f"ulimit -s {THREAD_STACK_KIB} && ulimit -v {max(1, mem_bytes // 1024)} || exit 125; "
        )
    procs = [str(d / "cgroup.procs") for d in groups]
    return [sh, "-c", WRAPPER.format(ulimit), "kernel", *procs, "--"]


def signal_members(groups: list[Path], signum: int) -> None:
    """Send `signum` to every process in `groups`, as far as they can be read."""
    for cgroup in groups:
        with contextlib.suppress(OSError, ValueError):
            for pid in (cgroup / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signum)


def oom_killed(groups: list[Path]) -> bool:
    """Whether the kernel OOM killer struck in any of `groups` (read before removing them)."""
    for group in groups:
        for name in ("memory.oom_control", "memory.events"):  # v1, v2
            for line in _read(group / name).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip() not in ("", "0"):
                    return True
    return False


def discard_cgroups(groups: list[Path]) -> None:
    """Remove `groups` if they are empty; best effort, for groups nothing has run in."""
    for group in groups:
        with contextlib.suppress(OSError):
            group.rmdir()


async def remove_cgroups(groups: list[Path], kill: Callable[[], None]) -> None:
    """Remove `groups`, calling `kill` to end stragglers while one is still busy; give up in ~5s."""
    for cgroup in groups:
        for _ in range(100):
            try:
                cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # EBUSY until the killed members are gone
                kill()
                await asyncio.sleep(0.05)
        else:
            log.warning("cgroup %s is still busy; leaving it", cgroup)


def _limit(version: int, group: Path, cpu: Decimal, mem_bytes: int) -> None:
    if version == 2:
        if mem_bytes > 0:
            (group / "memory.max").write_text(str(mem_bytes))
            with contextlib.suppress(OSError):
                (group / "memory.swap.max").write_text("0")
        if cpu > 0:
            (group / "cpu.max").write_text(f"{max(1000, int(cpu * 100_000))} 100000")
        return
    if mem_bytes > 0 and (group / "memory.limit_in_bytes").exists():
        _limit_memory_v1(group, mem_bytes)
    if cpu > 0 and (group / "cpu.cfs_quota_us").exists():
        period = int((group / "cpu.cfs_period_us").read_text())
        (group / "cpu.cfs_quota_us").write_text(str(max(1000, int(cpu * period))))


def _limit_memory_v1(group: Path, mem_bytes: int) -> None:
    limit, memsw = group / "memory.limit_in_bytes", group / "memory.memsw.limit_in_bytes"
    if not memsw.exists():  # swap accounting is off
        limit.write_text(str(mem_bytes))
        return
    # memsw may never be below the plain limit: raise memsw first, lower it after the limit.
    raising = mem_bytes > int(_read(limit) or 0)
    for path in (memsw, limit) if raising else (limit, memsw):
        path.write_text(str(mem_bytes))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
