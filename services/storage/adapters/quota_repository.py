"""QuotaStore on PostgreSQL: limits per (volume, scope) and the folders each scope holds."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.storage.adapters.repository import to_folder
from services.storage.adapters.tables import quota_scopes, vfolders
from services.storage.domain.model import VFolder


class SqlQuotaStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def limit_of(self, volume: str, scope_id: str) -> int:
        async with self._sessions() as session:
            found = await session.scalar(
                select(quota_scopes.c.limit_bytes).where(
                    quota_scopes.c.volume == volume, quota_scopes.c.scope_id == scope_id
                )
            )
        return int(found or 0)

    async def set_limit(self, volume: str, scope_id: str, limit_bytes: int) -> None:
        async with self._sessions.begin() as session:
            if limit_bytes == 0:
                await session.execute(
                    delete(quota_scopes).where(
                        quota_scopes.c.volume == volume, quota_scopes.c.scope_id == scope_id
                    )
                )
                return
            now = datetime.now(UTC)
            stmt = insert(quota_scopes).values(
                volume=volume, scope_id=scope_id, limit_bytes=limit_bytes, updated_at=now
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[quota_scopes.c.volume, quota_scopes.c.scope_id],
                    set_={"limit_bytes": limit_bytes, "updated_at": now},
                )
            )

    async def count_personal(self, owner_user_id: str) -> int:
        """Live personal folders of the owner (not in the trash, not being deleted)."""
        no_project = or_(vfolders.c.project_id.is_(None), vfolders.c.project_id == "")
        async with self._sessions() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(vfolders)
                .where(
                    vfolders.c.owner_user_id == owner_user_id,
                    no_project,
                    vfolders.c.status.in_(("ready", "cloning", "performing")),
                )
            )
        return int(found or 0)

    async def folders_of(self, volume: str, scope_id: str) -> list[VFolder]:
        kind, _, ident = scope_id.partition(":")
        if kind == "project":
            owned = vfolders.c.project_id == ident
        else:
            no_project = or_(vfolders.c.project_id.is_(None), vfolders.c.project_id == "")
            owned = and_(vfolders.c.owner_user_id == ident, no_project)
        async with self._sessions() as session:
            rows = await session.execute(
                select(vfolders).where(
                    vfolders.c.volume == volume,
                    owned,
                    vfolders.c.status.in_(("ready", "cloning", "trashed")),
                )
            )
            return [to_folder(r) for r in rows.mappings()]
