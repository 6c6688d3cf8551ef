"""Kernel lifecycle events from agents → kernel and session status (exactly-once in effect).

The consumer group delivers at least once; the event id (rule R-IDEMPOTENT-CONSUMER) and the
transition table under row locks make a repeated or late event a no-op, an event is applied only
from the agent its kernel is placed on (rule R-EVENT-SOURCE), and the session events a change
implies are staged in its transaction (rule R-OUTBOX).
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.events.v1.events_pb2 import KernelLifecycle

from services.registry.domain.model import Status
from services.registry.service.session_ports import KernelReports

# What each phase of the protocol means for the kernel, and the reason when the agent gave none.
_STATUS_OF: dict[int, tuple[Status, str]] = {
    KernelLifecycle.PHASE_CREATING: (Status.PREPARING, "creating"),
    KernelLifecycle.PHASE_PULLING: (Status.PULLING, "pulling"),
    KernelLifecycle.PHASE_STARTED: (Status.RUNNING, "started"),
    KernelLifecycle.PHASE_CREATE_FAILED: (Status.CANCELLED, "failed-to-start"),
    KernelLifecycle.PHASE_TERMINATED: (Status.TERMINATED, "terminated-unknown"),
}


def known_phase(phase: int) -> bool:
    return phase in _STATUS_OF


@dataclass(frozen=True, slots=True)
class ApplyKernelEvent:
    store: KernelReports

    async def __call__(self, event_id: str, event: KernelLifecycle) -> None:
        status, default_reason = _STATUS_OF[event.phase]
        await self.store.apply_kernel_status(
            event.kernel_id,
            status,
            agent_id=event.agent_id,
            event_id=event_id,
            reason=event.reason or default_reason,
            exit_code=event.exit_code if event.phase == KernelLifecycle.PHASE_TERMINATED else None,
            message=event.message,
        )
