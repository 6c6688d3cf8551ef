"""The agent's health probe: can it start a kernel right now?

Checks, run every `interval` seconds: the backend's own (its cgroup parents writable and
recreated if they vanished, bubblewrap runnable, or the container engine answering) and free
space in the agent's state directory above a threshold. The latest result goes out in every
heartbeat (`AgentHealth`), so that the registry stops placing work on a broken agent and puts
it back once the checks pass again.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from services.agent.service.outbound import AgentHealth

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[str | None]]  # why the agent is unhealthy; None when it is not


def disk_space_check(path: Path, min_free_bytes: int) -> Check:
    """Unhealthy when the file system holding `path` has less than `min_free_bytes` free."""

    async def check() -> str | None:
        target = path
        while not target.exists() and target != target.parent:
            target = target.parent  # the state dir may not exist yet: measure where it will be
        free = (await asyncio.to_thread(shutil.disk_usage, target)).free
        if free < min_free_bytes:
            return f"only {free >> 20} MiB free in {path} (needs {min_free_bytes >> 20} MiB)"
        return None

    return check


class HealthMonitor:
    def __init__(self, checks: Sequence[Check], *, interval: float = 10.0) -> None:
        self._checks = tuple(checks)
        self._interval = interval
        self.current = AgentHealth()

    async def check_now(self) -> AgentHealth:
        reasons: list[str] = []
        for check in self._checks:
            try:
                problem = await check()
            except Exception as exc:  # a check that cannot run is a failed check
                problem = f"health check failed: {type(exc).__name__}: {exc}"
            if problem:
                reasons.append(problem)
        health = AgentHealth(healthy=not reasons, reason="; ".join(reasons))
        if health != self.current:
            if health.healthy:
                log.info("agent healthy again")
            else:
                log.warning("agent unhealthy: %s", health.reason)
        self.current = health
        return health

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            await self.check_now()
            await asyncio.sleep(self._interval)
