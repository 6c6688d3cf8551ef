"""Usage reports (pure): the period asked for, and what a report holds (docs/idle-and-usage.md).

A kernel uses resources from when it first ran (started_at) until it ended (terminated_at, or
now while it runs); its allocation is the slots it requested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.registry.domain.errors import InvalidUsagePeriod

DEFAULT_WINDOW = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)
DEFAULT_BIN = timedelta(minutes=15)
MIN_BIN = timedelta(minutes=1)
MAX_BIN = timedelta(days=1)
MAX_BINS = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageScope:
    """Whose usage; None does not narrow."""

    user_id: str | None = None
    project_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRecord:
    user_id: str
    project_id: str
    domain_name: str
    session_count: int
    kernel_count: int
    used_seconds: float
    slot_seconds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageBin:
    start: datetime
    session_count: int
    kernel_count: int
    used_seconds: float
    allocated: Mapping[str, float] = field(default_factory=dict)


def period(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The period [start, end): end defaults to now, start to 30 days before end."""
    end = end or now
    start = start or end - DEFAULT_WINDOW
    if end <= start:
        raise InvalidUsagePeriod.of("end_time", "must be after start_time")
    if end - start > MAX_PERIOD:
        raise InvalidUsagePeriod.of("end_time", "at most 366 days after start_time")
    return start, end


def bin_width(width: timedelta | None, start: datetime, end: datetime) -> timedelta:
    """The bin width (default 15 minutes); the period may hold at most MAX_BINS bins."""
    width = width or DEFAULT_BIN
    if not MIN_BIN <= width <= MAX_BIN:
        raise InvalidUsagePeriod.of("bin_width", "must be from 1 minute to 1 day")
    if (end - start) / width > MAX_BINS:
        raise InvalidUsagePeriod.of("bin_width", f"the period would hold over {MAX_BINS} bins")
    return width
