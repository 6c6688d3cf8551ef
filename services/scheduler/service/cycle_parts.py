"""The pieces of one scheduling cycle (service/schedule.py): its ordered queue, the bind in
flight and the running totals."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from services.scheduler.domain.limits import Limits, Usage
from services.scheduler.domain.model import BindResult, PendingSession, Placement, Unschedulable


@dataclass(slots=True)
class CycleQueue:
    """One cycle's pending sessions in order, decided batch after batch."""

    sessions: list[tuple[str, PendingSession]]
    usage: Usage
    limits: Limits
    cursor: int = 0
    misfits: dict[Hashable, str] = field(default_factory=dict)


@dataclass(slots=True)
class InflightBind:
    placements: list[Placement]
    notes: list[Unschedulable]
    task: asyncio.Future[list[BindResult]]


@dataclass(slots=True)
class CycleTotals:
    bound: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unschedulable: list[str] = field(default_factory=list)
    notes_sent: int = 0


def by_group(sessions: Sequence[PendingSession]) -> dict[str, list[PendingSession]]:
    groups: dict[str, list[PendingSession]] = {}
    for session in sessions:
        groups.setdefault(session.resource_group, []).append(session)
    return groups
