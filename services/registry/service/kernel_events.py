"""Kernel lifecycle events from agents → kernel and session status (exactly-once in effect).

The consumer group delivers at least once; the event id (rule R-IDEMPOTENT-CONSUMER) and the
transition table under row locks make a repeated or late event a no-op, an event is applied only
from the agent its kernel is placed on (rule R-EVENT-SOURCE), and the session events a change
implies are staged in its transaction (rule R-OUTBOX).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from libs.core.errors import ShipyardError
from services.registry.domain.model import DEAD_STATUSES, Status
from services.registry.service.apps import AppEdge
from services.registry.service.idle_ports import KernelStatsStore
from services.registry.service.session_ports import KernelReport, KernelReports

log = logging.getLogger(__name__)


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
        await self.apply_batch([report])

    async def apply_batch(self, reports: Sequence[KernelReport]) -> None:
        """Apply reports in stream order, in one transaction whatever their number. Raises, with
        nothing applied, if one of them cannot be; the caller then applies them one by one."""
        # A create-failed event: the agent's CreateKernels call fails with the same error, and
        # the starter decides whether that ends the session or re-queues it (rule R-REQUEUE).
        # Applying the event too would race that decision; a start whose starter died is
        # re-queued by the reconciliation (R-RECONCILE).
        reports = [r for r in reports if r.status is not Status.CANCELLED]
        if not reports:
            return
        if self.stats is not None:
            for report in reports:
                if report.status in DEAD_STATUSES:
                    # Before the status: whoever sees the kernel ended also sees what it used.
                    await self.stats.archive(report.kernel_id, report.agent_id)
        if len(reports) == 1:
            r = reports[0]
            changes = [
                await self.store.apply_kernel_status(
                    r.kernel_id,
                    r.status,
                    agent_id=r.agent_id,
                    event_id=r.event_id,
                    reason=r.reason,
                    exit_code=r.exit_code,
                    message=r.message,
                )
            ]
        else:
            changes = await self.store.apply_kernel_reports(reports)
        for change in changes:
            if change is not None and change.status is not None and self.on_session_change:
                self.on_session_change(change.session_id, change.status)
        for report in reports:
            if report.status is Status.TERMINATED and report.session_id and self.apps is not None:
                await _close_apps(self.apps, report.session_id)


async def _close_apps(apps: AppEdge, session_id: str) -> None:
    try:
        await apps.close_session(session_id)
    except ShipyardError as exc:  # the routes lead nowhere now; harmless if left
        log.warning("closing the apps of session %s failed: %s", session_id, exc)
