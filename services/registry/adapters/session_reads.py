"""Sessions and their kernels in one prepared query, without the ORM (GetSession, the watch).

The session's columns come straight from the table definition, so a new column is read here
too; its kernels come back as one JSON array in the same row (one round trip, not two).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy.dialects.postgresql import UUID

from libs.db.reads import Fields, ReadPool
from services.registry.adapters.rows import session_from_row
from services.registry.adapters.tables import SCHEMA, KernelRow, SessionRow
from services.registry.domain.model import Session


def _column(name: str, type_: object) -> str:
    # UUID columns as text, as the ORM maps them (UUID(as_uuid=False)).
    return f"s.{name}::text AS {name}" if isinstance(type_, UUID) else f"s.{name}"


_SESSION_COLUMNS = ", ".join(_column(c.name, c.type) for c in SessionRow.__table__.columns)
_SELECT = (
    f"SELECT {_SESSION_COLUMNS}, "
    f"(SELECT coalesce(jsonb_agg(to_jsonb(k)), '[]'::jsonb) "
    f"FROM {SCHEMA}.{KernelRow.__tablename__} k WHERE k.session_id = s.id) AS kernels_json "
    f"FROM {SCHEMA}.{SessionRow.__tablename__} s "
)
GET_SESSION_SQL = _SELECT + "WHERE s.id = $1::uuid"
GET_SESSIONS_SQL = _SELECT + "WHERE s.id = ANY($1::uuid[])"


async def fetch_session(pool: ReadPool, session_id: str) -> Session | None:
    """The session, or None when there is none with this id (or the id is no UUID)."""
    if not _is_uuid(session_id):
        return None
    record = await pool.fetchrow(GET_SESSION_SQL, session_id)
    return None if record is None else _session(record)


async def fetch_sessions(pool: ReadPool, session_ids: Sequence[str]) -> dict[str, Session]:
    """The sessions among `session_ids` that exist, by id, in one query."""
    wanted = sorted({s for s in session_ids if _is_uuid(s)})
    if not wanted:
        return {}
    sessions = [_session(r) for r in await pool.fetch(GET_SESSIONS_SQL, wanted)]
    return {s.session_id: s for s in sessions}


def _session(record: Mapping[str, Any]) -> Session:
    kernels = [cast(KernelRow, Fields(k)) for k in record["kernels_json"]]
    return session_from_row(cast(SessionRow, Fields(record)), kernels)


def _is_uuid(value: str) -> bool:
    hexdigits = value.replace("-", "")
    return len(value) == 36 and len(hexdigits) == 32 and all(c in _HEX for c in hexdigits)


_HEX = frozenset("0123456789abcdefABCDEF")
