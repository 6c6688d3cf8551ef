"""The audit log in PostgreSQL, listed newest first."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.errors import FieldViolation, InvalidArgument
from services.auth.adapters.tables import AuditEventRow
from services.auth.domain.audit import AuditEvent, AuditFilter, Outcome
from services.auth.domain.paging import encode_token
from services.auth.domain.tenancy import Page, PageRequest

_FIELDS = (
    "actor_user_id",
    "actor_email",
    "actor_access_key",
    "action",
    "target_type",
    "target_id",
    "domain_name",
    "status_code",
    "detail",
    "trace_id",
    "client_address",
)


def _position(after: str) -> tuple[datetime, uuid.UUID]:
    when, _, last_id = after.partition("|")
    try:
        return datetime.fromisoformat(when), uuid.UUID(last_id)
    except ValueError as exc:
        raise InvalidArgument(
            "page_token is not a token from a previous response",
            violations=[FieldViolation("page_token", "not a token from a previous response")],
        ) from exc


def event_of(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        event_id=str(row.id),
        time=row.time,
        outcome=Outcome(row.outcome),
        **{f: getattr(row, f) for f in _FIELDS},
    )


class SqlAuditStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def append(self, event: AuditEvent) -> AuditEvent:
        row = AuditEventRow(
            id=uuid.uuid4(),
            time=event.time,
            outcome=event.outcome.value,
            **{f: getattr(event, f) for f in _FIELDS},
        )
        async with self._sessions.begin() as db:
            db.add(row)
        return event_of(row)

    async def list(
        self, page: PageRequest, flt: AuditFilter, *, domain_name: str | None
    ) -> Page[AuditEvent]:
        r = AuditEventRow
        query = select(r).order_by(r.time.desc(), r.id.desc()).limit(page.size + 1)
        if page.after:
            query = query.where(tuple_(r.time, r.id) < tuple_(*_position(page.after)))
        domain = domain_name if domain_name is not None else flt.domain_name
        for column, value in (
            (r.actor_user_id, flt.actor_user_id),
            (r.action, flt.action),
            (r.target_type, flt.target_type),
            (r.target_id, flt.target_id),
            (r.domain_name, domain),
        ):
            if value:
                query = query.where(column == value)
        if domain_name is not None and not domain_name:
            query = query.where(r.domain_name == "")
        if flt.outcome is not None:
            query = query.where(r.outcome == flt.outcome.value)
        if flt.start is not None:
            query = query.where(r.time >= flt.start)
        if flt.end is not None:
            query = query.where(r.time < flt.end)
        async with self._sessions() as db:
            rows = list((await db.scalars(query)).all())
        items = [event_of(x) for x in rows[: page.size]]
        if len(rows) <= page.size:
            return Page(items=items)
        last = rows[page.size - 1]
        return Page(items=items, next_token=encode_token(f"{last.time.isoformat()}|{last.id}"))
