"""Session dependencies in PostgreSQL: the outcome of dependencies, and who waits on a session."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, cast, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.rows import session_from_row
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.domain.dependencies import FAILED, outcome
from services.registry.domain.model import Session, Status


class DependencyQueries:
    _sessions: async_sessionmaker[AsyncSession]

    async def dependency_outcomes(self, session_ids: Sequence[str]) -> dict[str, str]:
        """Each id's outcome; ids of sessions that no longer exist count as failed."""
        if not session_ids:
            return {}
        found: dict[str, str] = dict.fromkeys(session_ids, FAILED)
        async with self._sessions() as db:
            rows = await db.execute(
                select(SessionRow.id, SessionRow.status, KernelRow.exit_code)
                .join(
                    KernelRow,
                    (KernelRow.session_id == SessionRow.id) & (KernelRow.cluster_role == "main"),
                    isouter=True,
                )
                .where(SessionRow.id.in_(list(session_ids)))
            )
            for session_id, status, exit_code in rows:
                found[session_id] = outcome(Status(status), exit_code)
        return found

    async def pending_dependents(self, session_id: str) -> list[Session]:
        """PENDING sessions that name `session_id` among their dependencies."""
        query = select(SessionRow).where(
            SessionRow.status == Status.PENDING.value,
            SessionRow.dependencies.op("@>")(_json_list(session_id)),
        )
        async with self._sessions() as db:
            rows = (await db.execute(query)).scalars().all()
            sessions = []
            for row in rows:
                kernels = (
                    await db.execute(select(KernelRow).where(KernelRow.session_id == row.id))
                ).scalars()
                sessions.append(session_from_row(row, kernels))
            return sessions


def _json_list(value: str) -> ColumnElement[Any]:
    return cast(literal(json.dumps([value])), JSONB)
