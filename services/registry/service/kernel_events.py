"""Kernel lifecycle events from agents → kernel and session status (exactly-once in effect).

The consumer group delivers at least once; the event id (rule R-IDEMPOTENT-CONSUMER) and the
transition table under row locks make a repeated or late event a no-op, an event is applied only
from the agent its kernel is placed on (rule R-EVENT-SOURCE), and the session events a change
implies are staged in its transaction (rule R-OUTBOX).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.registry.domain.model import DEAD_STATUSES, Status
from services.registry.service.idle_ports import KernelStatsStore
from services.registry.service.session_ports import KernelReports


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


@dataclass(frozen=True, slots=True)
class ApplyKernelEvent:
    store: KernelReports
    # An ended kernel keeps its agent's last stats report (docs/idle-and-usage.md).
    stats: KernelStatsStore | None = None

    async def __call__(self, report: KernelReport) -> None:
        if report.status is Status.CANCELLED:
            # A create-failed event: the agent's CreateKernels call fails with the same error,
            # and the starter decides whether that ends the session or re-queues it (rule
            # R-REQUEUE). Applying the event too would race that decision; a start whose starter
            # died is re-queued by the reconciliation (R-RECONCILE).
            return
        if self.stats is not None and report.status in DEAD_STATUSES:
            # Before the status: whoever sees the kernel ended also sees what it used.
            await self.stats.archive(report.kernel_id, report.agent_id)
        await self.store.apply_kernel_status(
            report.kernel_id,
            report.status,
            agent_id=report.agent_id,
            event_id=report.event_id,
            reason=report.reason,
            exit_code=report.exit_code,
            message=report.message,
        )
