"""Occupied slots of every agent recomputed from its live kernels (drift repair)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from libs.db.retry import with_retry
from services.registry.adapters.outbox import agent_event, stage
from services.registry.adapters.rows import agent_from_row, recompute_occupancy
from services.registry.adapters.tables import AgentRow
from services.registry.domain.model import Agent


class SqlOccupancy:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def recompute_all(self) -> list[Agent]:
        """Each agent in its own short transaction; the agents whose occupancy was wrong."""
        async with self._sessions() as db:
            ids = list((await db.execute(select(AgentRow.id).order_by(AgentRow.id))).scalars())
        fixed = []
        for agent_id in ids:

            async def work(agent_id: str = agent_id) -> Agent | None:
                async with self._sessions.begin() as db:
                    before = (
                        await db.execute(
                            select(AgentRow.occupied_slots)
                            .where(AgentRow.id == agent_id)
                            .with_for_update()
                        )
                    ).scalar_one_or_none()
                    if before is None:
                        return None
                    (row,) = await recompute_occupancy(db, [agent_id])
                    was = ResourceSlots(before).to_strings()
                    if was == ResourceSlots(row.occupied_slots).to_strings():
                        return None
                    agent = agent_from_row(row)
                    await stage(db, [agent_event(agent)])  # rule R-OUTBOX
                    return agent

            agent = await with_retry(work)
            if agent is not None:
                fixed.append(agent)
        return fixed
