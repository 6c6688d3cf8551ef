"""What the idle checkers need: when sessions were last used, what their kernels use, and a
lease so one replica runs them at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.registry.domain.utilization import KernelStats


class ActivityClock(Protocol):
    """The shared record of a session's last use (libs/events/session_activity.py)."""

    async def touch(self, session_id: str) -> None: ...
    async def last_seen_many(self, session_ids: Sequence[str]) -> dict[str, datetime]:
        """Last use of each session that has one recorded."""
        ...


class CheckerLease(Protocol):
    async def hold(self) -> bool:
        """Take or renew the lease; True while this replica holds it."""
        ...


class KernelStatsStore(Protocol):
    """The kernels' recent stats as their agents report them with each heartbeat."""

    async def record(self, stats: Sequence[KernelStats]) -> None: ...
    async def history(self, kernel_ids: Sequence[str]) -> dict[str, list[KernelStats]]:
        """The recent reports of each kernel, newest first (empty lists are left out)."""
        ...

    async def latest(self, kernels: Sequence[tuple[str, str]]) -> dict[str, KernelStats]:
        """The newest report of each (kernel id, agent id) from that agent (left out if none)."""
        ...

    async def archive(self, kernel_id: str, agent_id: str) -> None:
        """Keep the kernel's last report from `agent_id` with the kernel, which has ended."""
        ...


@dataclass(frozen=True, slots=True)
class LiveState:
    last_seen: dict[str, datetime]  # session id -> last use (those with one recorded)
    stats: dict[str, KernelStats]  # kernel id -> newest report from its own agent


class LiveSessionState(Protocol):
    """Sessions' last use and their kernels' newest stats, read together (GetSession's view)."""

    async def read(self, watched: Sequence[str], kernels: Sequence[tuple[str, str]]) -> LiveState:
        """Last use of the `watched` sessions and the newest report of each (kernel id, agent
        id) from that agent."""
        ...
