"""Agent schedulability in PostgreSQL: drain, health reports, consecutive failed starts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, any_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.outbox import agent_event, stage
from services.registry.adapters.rows import agent_from_row
from services.registry.adapters.tables import AgentRow
from services.registry.adapters.unnest import array_of
from services.registry.domain.errors import AgentNotFound
from services.registry.domain.model import Agent
from services.registry.domain.schedulability import (
    OutOfScheduling,
    SchedulabilityPolicy,
)
from services.registry.domain.schedulability import reason as make_reason

_AGENTS = cast(Table, AgentRow.__table__)
_RESET_FAILURES = (
    update(_AGENTS)
    .where(_AGENTS.c.id == any_(array_of("ids", _AGENTS.c.id)), _AGENTS.c.start_failures > 0)
    .values(start_failures=0)
)


class SqlAgentHealth:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def drain(self, agent_id: str, reason: str, now: datetime) -> Agent:
        async def work() -> Agent:
            async with self._sessions.begin() as db:
                row = await _lock(db, agent_id)
                if row is None:
                    raise AgentNotFound(f"agent {agent_id} is not registered")
                take_out(row, make_reason(OutOfScheduling.DRAINING, reason), now)
                return await _changed(db, row)

        return await with_retry(work)

    async def report_health(
        self,
        agent_id: str,
        *,
        healthy: bool,
        reason: str,
        now: datetime,
        policy: SchedulabilityPolicy,
    ) -> Agent | None:
        async def work() -> Agent | None:
            async with self._sessions.begin() as db:
                # Read first: most heartbeats change nothing and must not lock the row.
                current = (
                    await db.execute(
                        select(AgentRow.schedulable, AgentRow.unschedulable_reason).where(
                            AgentRow.id == agent_id
                        )
                    )
                ).one_or_none()
                if current is None or (healthy and current.schedulable):
                    return None
                row = await _lock(db, agent_id)
                if row is None:
                    return None
                if not healthy:
                    wanted = _unhealthy(reason)
                    if not row.schedulable:
                        return None  # already out (draining or failing starts stays the reason)
                    take_out(row, wanted, now)
                    return await _changed(db, row)
                if row.schedulable or not policy.may_return(
                    row.unschedulable_reason, row.unschedulable_since, now
                ):
                    return None
                put_back(row)
                return await _changed(db, row)

        return await with_retry(work)

    async def starts_succeeded(self, agent_ids: Sequence[str]) -> None:
        if not agent_ids:
            return
        async with self._sessions() as db:
            # One statement after every start, atomic on its own: run without BEGIN and COMMIT
            # (two round trips fewer). On the table, not the mapped class: the ORM's UPDATE path
            # costs more Python than the statement.
            await db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            await db.execute(_RESET_FAILURES, {"ids": sorted(set(agent_ids))})


async def _changed(db: AsyncSession, row: AgentRow) -> Agent:
    """The agent as changed, its event staged in the same transaction (rule R-OUTBOX)."""
    agent = agent_from_row(row)
    await stage(db, [agent_event(agent)])
    return agent


def count_failed_starts(
    rows: Iterable[AgentRow], policy: SchedulabilityPolicy, now: datetime
) -> list[AgentRow]:
    """Raise the counters of agents (locked by the caller) whose start failed; the ones this
    takes out of scheduling are returned."""
    taken_out = []
    for row in rows:
        row.start_failures += 1
        if row.schedulable and policy.too_many_failures(row.start_failures):
            detail = f"{row.start_failures} consecutive failed starts"
            take_out(row, make_reason(OutOfScheduling.START_FAILURES, detail), now)
            taken_out.append(row)
    return taken_out


def take_out(row: AgentRow, reason_text: str, now: datetime) -> None:
    row.schedulable = False
    row.unschedulable_reason = reason_text
    row.unschedulable_since = now


def put_back(row: AgentRow) -> None:
    row.schedulable = True
    row.unschedulable_reason = ""
    row.unschedulable_since = None
    row.start_failures = 0


def _unhealthy(detail: str) -> str:
    return make_reason(OutOfScheduling.UNHEALTHY, detail or "health probe failed")


async def _lock(db: AsyncSession, agent_id: str) -> AgentRow | None:
    return (
        await db.execute(select(AgentRow).where(AgentRow.id == agent_id).with_for_update())
    ).scalar_one_or_none()
