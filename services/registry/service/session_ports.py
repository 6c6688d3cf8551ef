"""What each use case needs from session persistence: one small port per use case.

`SqlSessionStore` (intake, reads and the queue) and `SqlLifecycleStore` (state changes after
the queue) implement them; every state change stages its events in its own transaction (rule
R-OUTBOX), so no port publishes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.registry.domain.idle import Judged
from services.registry.domain.model import Session, Status
from services.registry.service.ports import (
    BindOutcome,
    KernelTarget,
    NewSession,
    PendingNote,
    PreparingSession,
    SessionChange,
    SessionFilter,
    SessionPlacement,
)


class SessionReader(Protocol):
    """Reads for queries, access checks and the scheduler's snapshot."""

    async def get(self, session_id: str) -> Session: ...
    async def list_sessions(
        self,
        *,
        scope: SessionFilter,
        statuses: Sequence[Status],
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[Session]: ...


class SessionIntake(Protocol):
    """CreateSession: enqueue (idempotent on the client token) and read back."""

    async def add(self, new: NewSession) -> tuple[Session, bool]: ...
    async def get(self, session_id: str) -> Session: ...


class SessionQueue(Protocol):
    """The scheduler's side: the queue, the sessions holding slots, binds and notes."""

    async def get(self, session_id: str) -> Session: ...
    async def get_many(self, session_ids: Sequence[str]) -> dict[str, Session]:
        """The sessions among `session_ids` that exist, in one query."""
        ...

    async def list_pending(self) -> list[Session]: ...
    async def list_active(self) -> list[Session]:
        """Sessions holding slots (SCHEDULED to TERMINATING), for the scheduler's limits."""
        ...

    async def bind(
        self, session_id: str, placements: Mapping[str, str], *, max_concurrent_sessions: int = 0
    ) -> BindOutcome: ...
    async def note_unschedulable(self, session_id: str, reason: str, message: str) -> bool: ...
    async def bind_many(
        self,
        placements: Sequence[SessionPlacement],
        notes: Sequence[PendingNote] = (),
        *,
        lease_epoch: int = 0,
    ) -> list[BindOutcome]:
        """Placements and notes in one transaction, each placement bound or refused on its
        own; nothing at all when `lease_epoch` is older than one already seen."""
        ...

    async def dependency_outcomes(self, session_ids: Sequence[str]) -> dict[str, str]:
        """Each id's outcome ("running", "succeeded", "failed"); missing ids count as failed."""
        ...

    async def pending_dependents(self, session_id: str) -> list[Session]:
        """PENDING sessions that depend on `session_id`."""
        ...


class SessionStarts(Protocol):
    """The starter: claim SCHEDULED sessions, cancel the ones that failed to start."""

    async def claim_scheduled(self, limit: int) -> list[PreparingSession]: ...
    async def cancel(self, session_id: str, *, reason: str, error: str) -> SessionChange | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelReport:
    """An agent's `KernelLifecycle` event, decoded: the status its phase means for the kernel."""

    event_id: str
    kernel_id: str
    agent_id: str
    status: Status
    reason: str
    exit_code: int | None
    message: str
    session_id: str = ""
    # The trace context of the event's span: the session events it causes continue it.
    trace: Mapping[str, str] = field(default_factory=dict)


class KernelReports(Protocol):
    """Agents' kernel events."""

    async def apply_kernel_reports(
        self, reports: Sequence[KernelReport]
    ) -> list[SessionChange | None]:
        """Apply many reports in one transaction, in order; each result as `apply_kernel_status`
        would give it. Raises (changing nothing) if any of them cannot be applied."""
        ...

    async def apply_kernel_status(
        self,
        kernel_id: str,
        new: Status,
        *,
        agent_id: str,
        reason: str,
        event_id: str = "",
        exit_code: int | None = None,
        message: str = "",
    ) -> SessionChange | None:
        """Apply an agent's report; None when refused (foreign agent), a no-op or a repeat."""
        ...


class SessionEnding(Protocol):
    """Ending sessions: on request, by lifetime, or when stuck."""

    async def cancel_pending(
        self, session_id: str, *, reason: str, message: str
    ) -> SessionChange | None:
        """PENDING -> CANCELLED; None when the session already left the queue."""
        ...

    async def begin_destroy(
        self, session_id: str, *, forced: bool, reason: str, only_running: bool = False
    ) -> tuple[list[KernelTarget], SessionChange | None]: ...
    async def cancel(self, session_id: str, *, reason: str, error: str) -> SessionChange | None: ...
    async def stale_preparing(self, older_than: datetime) -> list[PreparingSession]: ...
    async def stale_terminating(self, older_than: datetime) -> list[KernelTarget]: ...
    async def running(self, judged: Judged) -> list[Session]:
        """The RUNNING sessions `judged` names, with their kernels (the idle checkers'
        candidates); none when it names nothing."""
        ...
