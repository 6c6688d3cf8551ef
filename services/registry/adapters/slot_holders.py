"""SlotHolders on PostgreSQL: the watch's lean read of sessions that left the queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from services.registry.adapters.bind_sql import SlotsMemo
from services.registry.adapters.tables import SCHEMA
from services.registry.domain.model import Status
from services.registry.service.watch_holders import SlotHolder

# Only what SlotHolder carries; the kernels as [agent, slots] text pairs, one row per session.
# Slot maps come as JSON text, decoded once per distinct map (`SlotsMemo`), not per row.
_HOLDERS = text(
    "SELECT s.id::text AS id, s.status, s.access_key, s.project_id, s.domain_name,"
    " s.owner_user_id, s.resource_group, s.requested_slots::text AS requested_slots,"
    " s.priority, s.preemptible,"
    " s.expected_duration, s.status_history ->> 'SCHEDULED' AS scheduled_at,"
    " (SELECT array_agg(ARRAY[k.agent_id::text, k.requested_slots::text])"
    f"  FROM {SCHEMA}.kernels k WHERE k.session_id = s.id AND k.agent_id IS NOT NULL) AS held"
    f" FROM {SCHEMA}.sessions s WHERE s.id = ANY(CAST(:ids AS uuid[]))"
)


class SqlSlotHolders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get_holders(self, session_ids: Sequence[str]) -> dict[str, SlotHolder]:
        if not session_ids:
            return {}
        async with self._sessions() as db:
            rows = (await db.execute(_HOLDERS, {"ids": sorted(set(session_ids))})).all()
        slots = SlotsMemo()
        holders: dict[str, SlotHolder] = {}
        for r in rows:
            held: dict[str, ResourceSlots] = {}
            for agent_id, requested in r.held or ():
                amount = slots(requested)
                held[agent_id] = held[agent_id] + amount if agent_id in held else amount
            holders[r.id] = SlotHolder(
                session_id=r.id,
                status=Status(r.status),
                access_key=r.access_key,
                project_id=r.project_id,
                domain_name=r.domain_name,
                owner_user_id=r.owner_user_id,
                resource_group=r.resource_group,
                requested_slots=slots(r.requested_slots),
                priority=r.priority,
                preemptible=r.preemptible,
                expected_duration=r.expected_duration,
                scheduled_at=datetime.fromisoformat(r.scheduled_at) if r.scheduled_at else None,
                slots_by_agent=held,
            )
        return holders
