"""What the idle checkers need: when sessions were last used, and a lease so one replica runs
them at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class ActivityClock(Protocol):
    """The shared record of a session's last use (libs/core/session_activity.py)."""

    async def touch(self, session_id: str) -> None: ...
    async def last_seen_many(self, session_ids: Sequence[str]) -> dict[str, datetime]:
        """Last use of each session that has one recorded."""
        ...


class CheckerLease(Protocol):
    async def hold(self) -> bool:
        """Take or renew the lease; True while this replica holds it."""
        ...
