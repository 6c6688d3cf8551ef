"""Kernel lifecycle events from agents → kernel and session status (exactly-once in effect).

The consumer group delivers at least once; the transition table under row locks makes a
repeated or late event a no-op, and session events are published only on a real change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.registry.domain.model import Status
from services.registry.service.ports import ClusterEvents, SessionStore


class Phase(StrEnum):
    CREATING = "creating"
    PULLING = "pulling"
    STARTED = "started"
    CREATE_FAILED = "create-failed"
    TERMINATED = "terminated"


_STATUS_OF = {
    Phase.CREATING: Status.PREPARING,
    Phase.PULLING: Status.PULLING,
    Phase.STARTED: Status.RUNNING,
    Phase.CREATE_FAILED: Status.CANCELLED,
    Phase.TERMINATED: Status.TERMINATED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelEvent:
    kernel_id: str
    session_id: str
    phase: Phase
    reason: str
    exit_code: int
    message: str


@dataclass(frozen=True, slots=True)
class ApplyKernelEvent:
    store: SessionStore
    events: ClusterEvents

    async def __call__(self, event: KernelEvent) -> None:
        if event.phase is Phase.CREATE_FAILED:
            # The agent's CreateKernels call fails with the same error; the starter decides
            # whether that ends the session or re-queues it (rule R-REQUEUE). Applying the event
            # too would race that decision; a start whose starter died is re-queued by the
            # reconciliation (R-RECONCILE).
            return
        reason = event.reason or _default_reason(event.phase)
        change = await self.store.apply_kernel_status(
            event.kernel_id,
            _STATUS_OF[event.phase],
            reason=reason,
            exit_code=event.exit_code if event.phase is Phase.TERMINATED else None,
            message=event.message,
        )
        if change is not None:
            await self.events.session_changed(change)


def _default_reason(phase: Phase) -> str:
    return {
        Phase.CREATING: "creating",
        Phase.PULLING: "pulling",
        Phase.STARTED: "started",
        Phase.CREATE_FAILED: "failed-to-start",
        Phase.TERMINATED: "terminated-unknown",
    }[phase]
