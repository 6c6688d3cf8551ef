"""Notice the OOM killer in a container's cgroup v1 memory controller, for engines that do not.

Podman on cgroup v1 reports `OOMKilled: false` even when the kernel killed the container's
process for its memory limit. The v1 controller can notify through an eventfd registered in
`cgroup.event_control`; it fires on an OOM and also when the cgroup is removed. At an OOM the
cgroup still exists, so reading `memory.oom_control` then tells the two apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

_V1_MEMORY = Path("/sys/fs/cgroup/memory")


def memory_cgroup(pid: int) -> Path | None:
    """The cgroup v1 memory directory of a process, when the host mounts that controller."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            group = _V1_MEMORY / path.lstrip("/")
            return group if (group / "memory.oom_control").exists() else None
    return None


def _oom_kills(group: Path) -> int:
    """How many processes the OOM killer ended in the group (under_oom counts as one)."""
    text = (group / "memory.oom_control").read_text()
    fields = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
    return max(int(fields.get("oom_kill", "0")), int(fields.get("under_oom", "0")))


class OomWatch:
    """Watches one cgroup from `start()` until the cgroup goes away; `fired` once it OOMs."""

    def __init__(self, group: Path) -> None:
        self._group = group
        self._efd = -1
        self.fired = False

    def start(self) -> bool:
        """Register the notification; False when this cgroup cannot be watched."""
        try:
            self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            control = os.open(self._group / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                (self._group / "cgroup.event_control").write_text(f"{self._efd} {control}")
            finally:
                os.close(control)
            self.fired = _oom_kills(self._group) > 0
        except OSError:
            self.close()
            return False
        asyncio.get_running_loop().add_reader(self._efd, self._on_event)
        return True

    def _on_event(self) -> None:
        with contextlib.suppress(OSError):
            os.eventfd_read(self._efd)
        try:
            self.fired = self.fired or _oom_kills(self._group) > 0
        except OSError:  # the cgroup was removed: the container has ended
            self.close()

    def close(self) -> None:
        if self._efd >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._efd)
            os.close(self._efd)
            self._efd = -1
