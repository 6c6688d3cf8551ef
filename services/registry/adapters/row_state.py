"""Locked session and kernel rows as plain objects, for the hot write transactions.

A kernel report, a claim or a destroy reads a session and its kernels under their row locks,
moves their statuses (`rows.set_kernel_status`, `rows.set_session_status`) and writes them back.
Loading them as ORM objects and flushing the unit of work cost more Python than the statements
themselves (docs/performance.md, "The registry's CPU per session start"): here the rows are read
with one `SELECT … FOR UPDATE` per table (sessions, then kernels in id order: rule
R-LOCK-ORDER), and whatever changed is written by `UPDATE … FROM unnest(…)` for both tables,
in the same statement as the outbox insert of the change's events (`outbox.stage`), or on its
own first when the transaction reads what it wrote (`write_back`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import SimpleNamespace
from typing import Any, ClassVar, cast

from sqlalchemy import ColumnElement, Select, Table, any_, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.adapters.unnest import array_of, unnest

_SESSIONS = cast(Table, SessionRow.__table__)
_KERNELS = cast(Table, KernelRow.__table__)


@dataclass(slots=True, eq=False)
class SessionState:
    """A locked session's status columns and what its user events name (`user_events._base`)."""

    WRITTEN: ClassVar[tuple[str, ...]] = (
        "status",
        "status_info",
        "status_message",
        "status_data",
        "status_history",
        "status_changed_at",
        "terminated_at",
    )

    id: str
    name: str
    owner_user_id: str
    domain_name: str
    project_id: str
    status: str
    status_info: str
    status_message: str
    status_data: dict[str, Any]
    status_history: dict[str, str]
    status_changed_at: datetime
    terminated_at: datetime | None
    start_attempts: int  # a re-queued session's enqueue is not shown to its owner again
    # Every column, when the caller read the row whole (`lock_sessions(whole=True)`).
    whole: Mapping[Any, Any] = field(default_factory=dict, repr=False)
    _loaded: tuple[object, ...] = field(default=(), repr=False)

    def written(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.WRITTEN)


@dataclass(slots=True, eq=False)
class KernelState:
    """A locked kernel's status columns and where it runs."""

    WRITTEN: ClassVar[tuple[str, ...]] = (
        "status",
        "status_info",
        "status_data",
        "status_changed_at",
        "exit_code",
        "started_at",
        "terminated_at",
    )

    id: str
    session_id: str
    cluster_role: str
    local_rank: int
    agent_id: str | None
    agent_address: str | None
    requested_slots: dict[str, str]
    status: str
    status_info: str
    status_data: dict[str, Any]
    status_changed_at: datetime
    exit_code: int | None
    started_at: datetime | None
    terminated_at: datetime | None
    whole: Mapping[Any, Any] = field(default_factory=dict, repr=False)
    _loaded: tuple[object, ...] = field(default=(), repr=False)

    def written(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.WRITTEN)


def _fields(cls: type[SessionState] | type[KernelState]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in ("whole", "_loaded"))


_SESSION_FIELDS = _fields(SessionState)
_KERNEL_FIELDS = _fields(KernelState)
_SESSION_COLUMNS = [_SESSIONS.c[f] for f in _SESSION_FIELDS]
_KERNEL_COLUMNS = [_KERNELS.c[f] for f in _KERNEL_FIELDS]


def select_sessions(where: ColumnElement[bool], *, whole: bool = False) -> Select[Any]:
    """The sessions matching `where`: their state columns, or every column (`whole`)."""
    return (select(_SESSIONS) if whole else select(*_SESSION_COLUMNS)).where(where)


_S, _K = _SESSIONS.c, _KERNELS.c
_OWNERS = select(_K.session_id).where(_K.id == any_(array_of("kernel_ids", _K.id)))
# The subquery that names the sessions locks nothing.
_LOCK_OF_KERNELS = select_sessions(_S.id.in_(_OWNERS)).order_by(_S.id).with_for_update()
_LOCK_ONE = select_sessions(_S.id == bindparam("session_id")).with_for_update()
_LOCK_KERNELS = {
    whole: (select(_KERNELS) if whole else select(*_KERNEL_COLUMNS))
    .where(_K.session_id == any_(array_of("session_ids", _K.session_id)))
    .order_by(_K.id)
    .with_for_update()
    for whole in (False, True)
}


async def lock_sessions(
    db: AsyncSession, stmt: Select[Any], params: Mapping[str, object], *, whole: bool = False
) -> list[SessionState]:
    """Run a `select_sessions` statement (with its FOR UPDATE) and keep what it read."""
    found = []
    for r in (await db.execute(stmt, params)).mappings():
        state = session_state(r)
        if whole:
            state.whole = r
        found.append(state)
    return found


def session_state(row: Mapping[str, Any]) -> SessionState:
    """A session as read, or as the caller's own insert wrote it (`row`: its columns)."""
    state = SessionState(**{f: row[f] for f in _SESSION_FIELDS})
    state._loaded = state.written()
    return state


async def lock_kernels(
    db: AsyncSession, session_ids: Sequence[str], *, whole: bool = False
) -> dict[str, list[KernelState]]:
    """Lock the kernels of sessions the caller has locked, in id order; by session."""
    rows = await db.execute(_LOCK_KERNELS[whole], {"session_ids": list(session_ids)})
    by_session: dict[str, list[KernelState]] = {s: [] for s in session_ids}
    for r in rows.mappings():
        kernel = KernelState(**{f: r[f] for f in _KERNEL_FIELDS})
        kernel._loaded = kernel.written()
        if whole:
            kernel.whole = r
        by_session.setdefault(kernel.session_id, []).append(kernel)
    return by_session


def as_row(state: SessionState | KernelState) -> Any:
    """A row read whole, as the transaction has moved it: what `rows.session_from_row` and
    `rows.kernel_from_row` read (attributes named as the columns)."""
    return SimpleNamespace(**{**state.whole, **{n: getattr(state, n) for n in state.WRITTEN}})


async def lock_of_kernels(
    db: AsyncSession, kernel_ids: Sequence[str]
) -> tuple[dict[str, SessionState], dict[str, list[KernelState]]]:
    """The sessions of these kernels, found and locked in one statement, then all their
    kernels."""
    sessions = await lock_sessions(db, _LOCK_OF_KERNELS, {"kernel_ids": list(kernel_ids)})
    kernels = await lock_kernels(db, [s.id for s in sessions])
    return {s.id: s for s in sessions}, kernels


def _kernel_rows(ks: Sequence[KernelState]) -> tuple[str, dict[str, object]]:
    return unnest(
        "uk",
        id=("text", [k.id for k in ks]),
        status=("text", [k.status for k in ks]),
        info=("text", [k.status_info for k in ks]),
        data=("text", [json.dumps(k.status_data) for k in ks]),
        at=("timestamptz", [k.status_changed_at for k in ks]),
        exit_code=("int", [k.exit_code for k in ks]),
        started_at=("timestamptz", [k.started_at for k in ks]),
        ended=("timestamptz", [k.terminated_at for k in ks]),
    )


def _session_rows(ss: Sequence[SessionState]) -> tuple[str, dict[str, object]]:
    return unnest(
        "us",
        id=("text", [s.id for s in ss]),
        status=("text", [s.status for s in ss]),
        info=("text", [s.status_info for s in ss]),
        message=("text", [s.status_message for s in ss]),
        data=("text", [json.dumps(s.status_data) for s in ss]),
        history=("text", [json.dumps(s.status_history) for s in ss]),
        at=("timestamptz", [s.status_changed_at for s in ss]),
        ended=("timestamptz", [s.terminated_at for s in ss]),
    )


async def lock_one(
    db: AsyncSession, session_id: str
) -> tuple[SessionState, list[KernelState]] | None:
    """Lock a session, then its kernels in id order (None when there is no such session)."""
    found = await lock_sessions(db, _LOCK_ONE, {"session_id": session_id})
    if not found:
        return None
    return found[0], (await lock_kernels(db, [session_id]))[session_id]


@dataclass(slots=True, eq=False)
class Locked:
    """The rows a transaction holds: `outbox.stage` writes what changed with its events."""

    sessions: dict[str, SessionState]
    kernels: list[KernelState]

    @classmethod
    def of(cls, sessions: Iterable[SessionState], kernels: Iterable[KernelState]) -> Locked:
        return cls({s.id: s for s in sessions}, list(kernels))


# Both updates as data-modifying CTEs, which run whether or not the statement reads them: the
# caller's statement follows (`write_back`'s, or the outbox insert of `outbox.stage`).
WRITES = (
    f"k AS (UPDATE {_KERNELS.fullname} AS k SET status = uk.status,"
    " status_info = uk.info, status_data = CAST(uk.data AS jsonb),"
    " status_changed_at = uk.at, exit_code = uk.exit_code, started_at = uk.started_at,"
    " terminated_at = uk.ended"
    f" FROM {_kernel_rows([])[0]} WHERE k.id = uk.id::uuid RETURNING 1),"
    f" s AS (UPDATE {_SESSIONS.fullname} AS s SET status = us.status, status_info = us.info,"
    " status_message = us.message, status_data = CAST(us.data AS jsonb),"
    " status_history = CAST(us.history AS jsonb), status_changed_at = us.at,"
    " terminated_at = us.ended"
    f" FROM {_session_rows([])[0]} WHERE s.id = us.id::uuid RETURNING 1)"
)
_WRITE = text(f"WITH {WRITES} SELECT 1")


def pending_writes(rows: Locked) -> dict[str, object] | None:
    """The parameters of `WRITES` for the rows whose status columns changed since they were
    locked or last written (None when none did); they count as written from now on."""
    ss = [s for s in rows.sessions.values() if s.written() != s._loaded]
    ks = [k for k in rows.kernels if k.written() != k._loaded]
    if not ss and not ks:
        return None
    for s in ss:
        s._loaded = s.written()
    for k in ks:
        k._loaded = k.written()
    return {**_kernel_rows(ks)[1], **_session_rows(ss)[1]}


async def write_back(db: AsyncSession, rows: Locked) -> None:
    """Write the changed rows now, in one statement (before a read that must see them)."""
    if (params := pending_writes(rows)) is not None:
        await db.execute(_WRITE, params)
