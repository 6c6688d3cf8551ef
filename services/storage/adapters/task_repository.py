"""Folder tasks on PostgreSQL, and the status moves that start and settle a clone atomically."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import RowMapping, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.storage.adapters.repository import SqlVFolderRepository
from services.storage.adapters.tables import vfolder_tasks, vfolders
from services.storage.domain.model import VFolder
from services.storage.domain.tasks import TaskState, VFolderTask


def _to_task(row: RowMapping) -> VFolderTask:
    return VFolderTask(
        id=str(row["id"]),
        kind=row["kind"],
        owner_user_id=str(row["owner_user_id"]),
        source_id=str(row["source_id"]),
        target_id=str(row["target_id"]),
        state=TaskState(row["state"]),
        bytes_copied=row["bytes_copied"],
        files_copied=row["files_copied"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlTaskStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, task_id: str) -> VFolderTask | None:
        async with self._sessions() as session:
            row = (
                (await session.execute(select(vfolder_tasks).where(vfolder_tasks.c.id == task_id)))
                .mappings()
                .first()
            )
        return _to_task(row) if row else None

    async def running(self) -> list[VFolderTask]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(vfolder_tasks).where(vfolder_tasks.c.state == TaskState.RUNNING.value)
            )
            return [_to_task(r) for r in rows.mappings()]

    async def start(self, task: VFolderTask, target: VFolder) -> bool:
        """In one transaction: the source ready → cloning, the target's row (performing) and the
        task. False (nothing changed) when the source is not ready."""
        async with self._sessions.begin() as session:
            moved = await session.execute(
                update(vfolders)
                .where(vfolders.c.id == task.source_id, vfolders.c.status == "ready")
                .values(status="cloning")
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult at run time
                return False
            await SqlVFolderRepository(session).add(target)
            await session.execute(
                vfolder_tasks.insert().values(
                    id=task.id,
                    kind=task.kind,
                    owner_user_id=task.owner_user_id,
                    source_id=task.source_id,
                    target_id=task.target_id,
                    state=task.state.value,
                    bytes_copied=0,
                    files_copied=0,
                    error="",
                    created_at=task.created_at,
                    updated_at=task.updated_at,
                )
            )
        return True

    async def progress(self, task_id: str, bytes_copied: int, files_copied: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(vfolder_tasks)
                .where(vfolder_tasks.c.id == task_id)
                .values(
                    bytes_copied=bytes_copied,
                    files_copied=files_copied,
                    updated_at=datetime.now(UTC),
                )
            )

    async def settle(
        self, task: VFolderTask, *, ok: bool, bytes_copied: int, files_copied: int, error: str
    ) -> None:
        """In one transaction: the task done or failed, the source back to ready (if it is still
        cloning), the target ready (or its row gone)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(vfolder_tasks)
                .where(vfolder_tasks.c.id == task.id)
                .values(
                    state=(TaskState.DONE if ok else TaskState.FAILED).value,
                    bytes_copied=bytes_copied,
                    files_copied=files_copied,
                    error=error[:1024],
                    updated_at=datetime.now(UTC),
                )
            )
            await session.execute(
                update(vfolders)
                .where(vfolders.c.id == task.source_id, vfolders.c.status == "cloning")
                .values(status="ready")
            )
            target = vfolders.c.id == task.target_id
            if ok:
                await session.execute(
                    update(vfolders)
                    .where(target, vfolders.c.status == "performing")
                    .values(status="ready")
                )
            else:
                await session.execute(
                    delete(vfolders).where(target, vfolders.c.status == "performing")
                )
