"""Kernel lifecycle events from agents → kernel and session status (exactly-once in effect).

The consumer group delivers at least once; the event id (rule R-IDEMPOTENT-CONSUMER) and the
transition table under row locks make a repeated or late event a no-op, an event is applied only
from the agent its kernel is placed on (rule R-EVENT-SOURCE), and the session events a change
implies are staged in its transaction (rule R-OUTBOX).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from libs.core.errors import ShipyardError
from services.registry.domain.model import DEAD_STATUSES, Status
from services.registry.service.apps import AppEdge
from services.registry.service.idle_ports import KernelStatsStore
from services.registry.service.session_ports import KernelReports

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class ApplyKernelEvent:
    store: KernelReports
    # An ended kernel keeps its agent's last stats report (docs/idle-and-usage.md).
    stats: KernelStatsStore | None = None
    apps: AppEdge | None = None  # a session's apps stop being routed when its kernels end
    # Called with the session's id once a report changed its status (committed): wakes the
    # CreateSession calls waiting on this replica without the outbox → stream round trip.
    on_session_change: Callable[[str, Status], None] | None = None

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
        change = await self.store.apply_kernel_status(
            report.kernel_id,
            report.status,
            agent_id=report.agent_id,
            event_id=report.event_id,
            reason=report.reason,
            exit_code=report.exit_code,
            message=report.message,
        )
        if change is not None and change.status is not None and self.on_session_change:
            self.on_session_change(change.session_id, change.status)
        if report.status is Status.TERMINATED and report.session_id and self.apps is not None:
            try:
                await self.apps.close_session(report.session_id)
            except ShipyardError as exc:  # the routes lead nowhere now; harmless if left
                log.warning("closing the apps of session %s failed: %s", report.session_id, exc)
