"""Ports of the scheduler's application layer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from services.scheduler.domain.group_config import GroupScheduling
from services.scheduler.domain.limits import Limits
from services.scheduler.domain.model import BindResult, ClusterChange, Placement, Unschedulable

# Monotonic seconds; injected so that tests control time.
Clock = Callable[[], float]


class ClusterWatch(Protocol):
    def watch(self) -> AsyncIterator[ClusterChange]:
        """A snapshot first, then incremental changes until the stream fails (ShipyardError)."""
        ...


class SessionBinder(Protocol):
    async def bind(
        self, placements: Sequence[Placement], unschedulable: Sequence[Unschedulable]
    ) -> list[BindResult]:
        """Commit placements and record pending reasons in one call; one result per placement."""
        ...


class LimitsSource(Protocol):
    async def limits(
        self,
        *,
        access_keys: Sequence[str],
        project_ids: Sequence[str],
        domain_names: Sequence[str],
    ) -> Limits:
        """The limits of these owners (owners without limits are left out)."""
        ...


class LeaderLease(Protocol):
    """A lease that at most one scheduler holds. Errors are raised as ShipyardError."""

    @property
    def epoch(self) -> int:
        """The current tenure's number, greater than any earlier tenure's (0 before one)."""
        ...

    async def acquire(self) -> bool:
        """Take the lease if it is free (or already ours); True when we hold it now."""
        ...

    async def renew(self) -> bool:
        """Extend the lease only if we still hold it."""
        ...

    async def release(self) -> None:
        """Give the lease up if we hold it, so that a standby takes over at once."""
        ...


class GroupSettingsSource(Protocol):
    async def groups(self) -> dict[str, GroupScheduling]:
        """Every resource group's scheduling settings. Errors are raised as ShipyardError."""
        ...


class PendingCanceller(Protocol):
    async def cancel_pending(self, cancellations: Sequence[Unschedulable]) -> list[str]:
        """Cancel these sessions if still PENDING (reason and message as given); the ids
        cancelled now. Errors are raised as ShipyardError."""
        ...


class Preempter(Protocol):
    async def preempt(self, preemptions: Sequence[tuple[str, str]]) -> list[str]:
        """End each (victim, preemptor) victim if the registry's rules allow it; the ids ended.
        Errors are raised as ShipyardError."""
        ...
