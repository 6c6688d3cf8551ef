"""Many agents' kernel reports applied in one transaction (docs/architecture.md, session start).

The same steps as `SqlLifecycleStore.apply_kernel_status`, once for a whole batch read from the
stream: the reports' sessions are locked in id order, then all their kernels in id order (rule
R-LOCK-ORDER), as plain rows (`row_state.py`); the event ids are recorded in one statement
(rule R-IDEMPOTENT-CONSUMER: a repeat, in the table or earlier in the batch, is a no-op); each
report then moves its kernel in stream order (`kernel_moves.py`); the occupancy of the agents
that ended kernels is recomputed once (after the moved rows are written); and one statement
writes the moved rows and stages every change (rule R-OUTBOX), each change's events carrying
the trace of the report that caused it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.kernel_moves import KernelMove, move_kernel, placed_on, with_agents
from services.registry.adapters.outbox import change_events, consume, stage
from services.registry.adapters.row_state import Locked, lock_of_kernels, write_back
from services.registry.adapters.rows import recompute_occupancy
from services.registry.service.ports import SessionChange
from services.registry.service.session_ports import KernelReport


async def apply_reports(
    factory: async_sessionmaker[AsyncSession], reports: Sequence[KernelReport]
) -> list[SessionChange | None]:
    """Each report's session change (None: unknown kernel, foreign agent, repeat, no-op)."""

    async def work() -> list[SessionChange | None]:
        now = datetime.now(UTC)
        async with factory.begin() as db:
            return await _apply(db, reports, now)

    return await with_retry(work) if reports else []


async def _apply(
    db: AsyncSession, reports: Sequence[KernelReport], now: datetime
) -> list[SessionChange | None]:
    sessions, kernels_of = await lock_of_kernels(db, sorted({r.kernel_id for r in reports}))
    kernel = {k.id: k for ks in kernels_of.values() for k in ks}
    # Placement first (a refused report records nothing), then every id in one statement.
    accepted = [
        r.kernel_id in kernel and placed_on(kernel[r.kernel_id], r.agent_id, r.status)
        for r in reports
    ]
    fresh = await consume(
        db, [r.event_id for r, ok in zip(reports, accepted, strict=False) if ok], now
    )
    moves: list[KernelMove | None] = []
    for report, ok in zip(reports, accepted, strict=True):
        if not ok or (report.event_id and report.event_id not in fresh):
            moves.append(None)
            continue
        fresh.discard(report.event_id)  # a copy later in the batch is a repeat
        k = kernel[report.kernel_id]
        moves.append(
            move_kernel(
                sessions[k.session_id],
                kernels_of[k.session_id],
                k,
                report.status,
                reason=report.reason,
                exit_code=report.exit_code,
                message=report.message,
                now=now,
                has_event_id=bool(report.event_id),
            )
        )
    rows = Locked.of(sessions.values(), kernel.values())
    freed_ids = {m.freed_agent for m in moves if m and m.freed_agent}
    if freed_ids:
        await write_back(db, rows)  # the occupancy is summed from kernel statuses
    freed = await recompute_occupancy(db, freed_ids)
    agents = {a.id: a for a in freed}
    changes: list[SessionChange | None] = []
    events, shown = [], []
    for report, move in zip(reports, moves, strict=True):
        change = None
        if move is not None and move.change is not None:
            change = move.change
            if move.freed_agent in agents:
                change = with_agents(change, [agents[move.freed_agent]])
            for event in change_events(change):
                event.trace_context.update(report.trace)
                events.append(event)
        if move is not None and move.shown is not None:
            shown.append(move.shown)
        changes.append(change)
    await stage(db, events, shown, rows)
    return changes
