"""Occupied slots of every agent recomputed from its live kernels (drift repair).

A fleet of thousands of agents is scanned with one read: every agent's stored occupancy next to
the sum of its live kernels, from one snapshot (a single statement). Only the agents where the
two differ get a transaction of their own, which locks the agent, recomputes and compares
again, so an agent that changed after the scan is left as the locked read finds it.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from libs.db.retry import with_retry
from services.registry.adapters.outbox import agent_event, stage
from services.registry.adapters.rows import agent_from_row, recompute_occupancy
from services.registry.adapters.tables import AgentRow, KernelRow
from services.registry.domain.model import AGENT_OCCUPYING_STATUSES, Agent

_AGENTS = cast(Table, AgentRow.__table__)
_KERNELS = cast(Table, KernelRow.__table__)
_SCAN = text(
    "SELECT a.id, a.occupied_slots::text AS stored, o.key, o.amount"
    f" FROM {_AGENTS.fullname} AS a LEFT JOIN ("
    "   SELECT k.agent_id, e.key, sum(e.value::numeric) AS amount"
    f"  FROM {_KERNELS.fullname} AS k, jsonb_each_text(k.requested_slots) AS e"
    "   WHERE k.status = ANY(CAST(:occupying AS text[]))"
    "   GROUP BY k.agent_id, e.key"
    " ) AS o ON o.agent_id = a.id"
)
_OCCUPYING = [s.value for s in AGENT_OCCUPYING_STATUSES]


class SqlOccupancy:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def drifted(self) -> list[str]:
        """Agents whose stored occupancy differs from their live kernels' sum, in id order."""
        stored: dict[str, str] = {}
        summed: dict[str, dict[str, Decimal]] = {}
        async with self._sessions() as db:
            rows = await db.execute(_SCAN, {"occupying": _OCCUPYING})
            for agent_id, raw, key, amount in rows.tuples():
                stored[agent_id] = raw
                amounts = summed.setdefault(agent_id, {})
                if key is not None:
                    amounts[key] = Decimal(amount)
        parsed: dict[str, ResourceSlots] = {}  # most agents store one of a few maps
        found = []
        for agent_id, raw in stored.items():
            was = parsed.get(raw)
            if was is None:
                was = parsed[raw] = ResourceSlots(json.loads(raw) if raw else {})
            if was.string_items() != ResourceSlots(summed[agent_id]).string_items():
                found.append(agent_id)
        return sorted(found)

    async def recompute_all(self) -> list[Agent]:
        """Fix every drifted agent, each in its own short transaction; the agents fixed."""
        fixed = []
        for agent_id in await self.drifted():
            agent = await with_retry(functools.partial(self._fix, agent_id))
            if agent is not None:
                fixed.append(agent)
        return fixed

    async def _fix(self, agent_id: str) -> Agent | None:
        async with self._sessions.begin() as db:
            before = (
                await db.execute(
                    select(AgentRow.occupied_slots).where(AgentRow.id == agent_id).with_for_update()
                )
            ).scalar_one_or_none()
            if before is None:
                return None
            (row,) = await recompute_occupancy(db, [agent_id])
            if ResourceSlots(before).to_strings() == ResourceSlots(row.occupied_slots).to_strings():
                return None
            agent = agent_from_row(row)
            await stage(db, [agent_event(agent)])  # rule R-OUTBOX
            return agent
