"""The bind transaction's statements: each one round trip for the whole batch, whatever its size.

Rows are locked with one `SELECT … FOR UPDATE` per table in the registry's lock order (session,
kernels, agents), and written with one `UPDATE … FROM unnest(arrays)` per table; occupancy is
summed per agent and slot by PostgreSQL (docs/scheduler-scale.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, Text, any_, select, text
from sqlalchemy import cast as cast_to
from sqlalchemy.ext.asyncio import AsyncSession

from libs.core.slots import ResourceSlots
from services.registry.adapters.rows import agent_from_row
from services.registry.adapters.tables import AgentRow, KernelRow, SessionRow
from services.registry.adapters.unnest import array_of, unnest_from, unnest_params
from services.registry.domain.model import AGENT_OCCUPYING_STATUSES, Agent, Status

_AGENTS = cast(Table, AgentRow.__table__)
_SESSIONS = cast(Table, SessionRow.__table__)
_KERNELS = cast(Table, KernelRow.__table__)
_OCCUPYING = [s.value for s in AGENT_OCCUPYING_STATUSES]
_AGENT_JSON = frozenset({"available_slots", "occupied_slots", "images"})


@dataclass(frozen=True, slots=True)
class LockedSession:
    """What the bind checks of a session, read under its row lock."""

    id: str
    status: str
    not_before: datetime | None
    access_key: str
    resource_group: str
    image_architectures: tuple[str, ...]
    max_lifetime_seconds: int


@dataclass(frozen=True, slots=True)
class LockedKernel:
    id: str
    session_id: str
    requested_slots: ResourceSlots


class SlotsMemo:
    """Parses each distinct slot map once per batch: most of a batch's kernels ask the same
    amounts, and most agents have the same capacity (ResourceSlots is immutable, so shared).
    A map may come as its JSON text (a column read with `::text`): then not even the JSON is
    decoded twice, where the driver would decode every row's."""

    def __init__(self) -> None:
        self._seen: dict[object, ResourceSlots] = {}

    def __call__(self, raw: Mapping[str, str | Decimal] | str) -> ResourceSlots:
        key = raw if isinstance(raw, str) else tuple(raw.items())
        found = self._seen.get(key)
        if found is None:
            found = ResourceSlots(json.loads(raw) if isinstance(raw, str) else raw)
            self._seen[key] = found
        return found


@dataclass(frozen=True, slots=True)
class KernelBind:
    kernel_id: str
    agent_id: str
    agent_address: str
    at: datetime


def as_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """A JSON column read as its text, under its own name (decoded by the caller, once per
    distinct value)."""
    return cast_to(column, Text).label(column.key)


# Every statement of the bind is built once, its arrays bound at each execution: SQLAlchemy
# computes each one's cache key once, not in every bind transaction.
_S, _K, _A = _SESSIONS.c, _KERNELS.c, _AGENTS.c
_LOCK_SESSIONS = (
    select(
        _S.id,
        _S.status,
        _S.not_before,
        _S.access_key,
        _S.resource_group,
        _S.image_architectures,
        _S.max_lifetime_seconds,
    )
    .where(_S.id == any_(array_of("ids", _S.id)))
    .order_by(_S.id)
    .with_for_update()
)
_LOCK_KERNELS = (
    select(_K.id, _K.session_id, as_text(_K.requested_slots))
    .where(_K.session_id == any_(array_of("session_ids", _K.session_id)))
    .order_by(_K.id)
    .with_for_update()
)
_LOCK_AGENTS = (
    select(*(as_text(c) if c.name in _AGENT_JSON else c for c in _AGENTS.c))
    .where(_A.id == any_(array_of("ids", _A.id)))
    .order_by(_A.id)
    .with_for_update()
)
_MARK_SESSIONS = text(
    f"UPDATE {_SESSIONS.fullname} AS s SET status = CAST(:to AS text),"
    " status_info = 'scheduled', status_message = '', status_changed_at = u.at,"
    " status_history = s.status_history || jsonb_build_object(CAST(:to AS text), u.iso),"
    " expires_at = CASE WHEN s.max_lifetime_seconds > 0"
    "   THEN u.at + make_interval(secs => s.max_lifetime_seconds) ELSE s.expires_at END"
    f" FROM {unnest_from('u', id='text', at='timestamptz', iso='text')}"
    " WHERE s.id = u.id::uuid AND s.status = CAST(:from AS text)"
)
_MARK_KERNELS = text(
    f"UPDATE {_KERNELS.fullname} AS k SET status = CAST(:to AS text),"
    " status_info = 'scheduled', status_changed_at = u.at,"
    " agent_id = u.agent_id, agent_address = u.address"
    f" FROM {unnest_from('u', id='text', agent_id='text', address='text', at='timestamptz')}"
    " WHERE k.id = u.id::uuid AND k.status = CAST(:from AS text)"
)
_OCCUPANCY = text(
    "SELECT k.agent_id, e.key, sum(e.value::numeric) AS amount"
    f" FROM {_KERNELS.fullname} AS k, jsonb_each_text(k.requested_slots) AS e"
    " WHERE k.agent_id = ANY(CAST(:agents AS text[]))"
    "   AND k.status = ANY(CAST(:occupying AS text[]))"
    " GROUP BY k.agent_id, e.key"
)
_WRITE_OCCUPANCY = text(
    f"UPDATE {_AGENTS.fullname} AS a SET occupied_slots = u.slots::jsonb"
    f" FROM {unnest_from('u', id='text', slots='text')} WHERE a.id = u.id"
)
_NOTE_PENDING = text(
    f"UPDATE {_SESSIONS.fullname} AS s SET status_info = u.reason,"
    " status_message = u.message,"
    " status_data = s.status_data || jsonb_build_object('scheduler',"
    "   jsonb_build_object('last_try', CAST(:last_try AS text), 'msg', u.message))"
    f" FROM {unnest_from('u', id='text', reason='text', message='text')}"
    " WHERE s.id = u.id::uuid AND s.status = CAST(:pending AS text)"
)


async def lock_sessions(db: AsyncSession, ids: Sequence[str]) -> dict[str, LockedSession]:
    return {
        r.id: LockedSession(
            r.id,
            r.status,
            r.not_before,
            r.access_key,
            r.resource_group,
            tuple(r.image_architectures or ()),
            r.max_lifetime_seconds,
        )
        for r in (await db.execute(_LOCK_SESSIONS, {"ids": list(ids)})).all()
    }


async def lock_kernels(
    db: AsyncSession, session_ids: Sequence[str], slots: SlotsMemo
) -> dict[str, list[LockedKernel]]:
    kernels: dict[str, list[LockedKernel]] = {}
    for r in (await db.execute(_LOCK_KERNELS, {"session_ids": list(session_ids)})).all():
        kernel = LockedKernel(r.id, r.session_id, slots(r.requested_slots))
        kernels.setdefault(r.session_id, []).append(kernel)
    return kernels


async def mark_scheduled(
    db: AsyncSession, sessions: Sequence[tuple[str, datetime]], kernels: Sequence[KernelBind]
) -> None:
    """PENDING → SCHEDULED for every (session, time of binding) and its kernels: two statements."""
    if not sessions:
        return
    moves = {"to": Status.SCHEDULED.value, "from": Status.PENDING.value}
    params = unnest_params(
        "u",
        id=[sid for sid, _ in sessions],
        at=[at for _, at in sessions],
        iso=[at.isoformat() for _, at in sessions],
    )
    await db.execute(_MARK_SESSIONS, {**moves, **params})
    params = unnest_params(
        "u",
        id=[k.kernel_id for k in kernels],
        agent_id=[k.agent_id for k in kernels],
        address=[k.agent_address for k in kernels],
        at=[k.at for k in kernels],
    )
    await db.execute(_MARK_KERNELS, {**moves, **params})


async def lock_agents(
    db: AsyncSession, agent_ids: Sequence[str], slots: SlotsMemo
) -> dict[str, Agent]:
    """The agents, locked in id order; table rows, not ORM objects (a batch has ~1,000), with
    their JSON columns as text, each distinct value decoded once."""
    rows = (await db.execute(_LOCK_AGENTS, {"ids": list(agent_ids)})).all()
    images: dict[str, tuple[str, ...]] = {}
    agents: dict[str, Agent] = {}
    for r in rows:
        if (found := images.get(r.images)) is None:
            found = images[r.images] = tuple(json.loads(r.images))
        agents[r.id] = agent_from_row(cast(AgentRow, r), slots=slots, images=found)
    return agents


async def occupancy_of(
    db: AsyncSession, agent_ids: Sequence[str], slots: SlotsMemo
) -> dict[str, ResourceSlots]:
    """Occupied = the sum of each agent's live kernels (derived, never incremented), summed per
    agent and slot in one query."""
    rows = await db.execute(_OCCUPANCY, {"agents": list(agent_ids), "occupying": _OCCUPYING})
    amounts: dict[str, dict[str, Decimal]] = {a: {} for a in agent_ids}
    for agent_id, key, amount in rows.tuples():
        amounts[agent_id][key] = Decimal(amount)
    return {a: slots(v) for a, v in amounts.items()}


async def write_occupancy(db: AsyncSession, occupied: Mapping[str, ResourceSlots]) -> None:
    if not occupied:
        return
    params = unnest_params(
        "u", id=list(occupied), slots=[json.dumps(s.to_strings()) for s in occupied.values()]
    )
    await db.execute(_WRITE_OCCUPANCY, params)


async def note_pending(
    db: AsyncSession, notes: Sequence[tuple[str, str, str]], now: datetime
) -> None:
    """(session, reason, message) for sessions still PENDING, in one statement; a session that
    left PENDING keeps its status."""
    if not notes:
        return
    params = unnest_params(
        "u", id=[n[0] for n in notes], reason=[n[1] for n in notes], message=[n[2] for n in notes]
    )
    await db.execute(
        _NOTE_PENDING, {"last_try": now.isoformat(), "pending": Status.PENDING.value, **params}
    )
