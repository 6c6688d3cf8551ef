"""Container registries and their rescan tasks in PostgreSQL. Passwords are stored encrypted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.image_tables import ContainerRegistryRow, ImageRow, RescanTaskRow
from services.registry.adapters.secrets import SecretBox
from services.registry.domain.errors import (
    ContainerRegistryExists,
    ContainerRegistryNotFound,
    RescanTaskNotFound,
)
from services.registry.domain.images import (
    ContainerRegistry,
    RegistryCredentials,
    RegistryType,
    RescanTask,
    TaskState,
)
from services.registry.service.image_ports import RegistryInput


def registry_from_row(row: ContainerRegistryRow) -> ContainerRegistry:
    return ContainerRegistry(
        name=row.name,
        url=row.url,
        type=RegistryType(row.type),
        username=row.username,
        has_password=row.password_encrypted is not None,
        ssl_verify=row.ssl_verify,
        created_at=row.created_at,
    )


class SqlRegistryStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box

    async def create(self, name: str, data: RegistryInput, now: datetime) -> ContainerRegistry:
        row = ContainerRegistryRow(name=name, username="", ssl_verify=True, created_at=now)
        self._apply(row, data)
        try:
            async with self._sessions.begin() as db:
                db.add(row)
                await db.flush()
                return registry_from_row(row)
        except IntegrityError:
            raise ContainerRegistryExists(f"container registry {name!r} already exists") from None

    async def get(self, name: str) -> ContainerRegistry:
        async with self._sessions() as db:
            return registry_from_row(await _row(db, name))

    async def credentials(self, name: str) -> RegistryCredentials:
        async with self._sessions() as db:
            row = await _row(db, name)
            secret = row.password_encrypted
            password = self._box.decrypt(secret) if secret is not None else ""
            return RegistryCredentials(registry=registry_from_row(row), password=password)

    async def list_registries(self, *, after: str, limit: int) -> list[ContainerRegistry]:
        async with self._sessions() as db:
            rows = await db.execute(
                select(ContainerRegistryRow)
                .where(ContainerRegistryRow.name > after)
                .order_by(ContainerRegistryRow.name)
                .limit(limit)
            )
            return [registry_from_row(r) for r in rows.scalars()]

    async def update(self, name: str, data: RegistryInput) -> ContainerRegistry:
        async with self._sessions.begin() as db:
            row = await _row(db, name, lock=True)
            self._apply(row, data)
            return registry_from_row(row)

    async def delete(self, name: str) -> None:
        async with self._sessions.begin() as db:
            row = await _row(db, name, lock=True)
            await db.execute(delete(ImageRow).where(ImageRow.container_registry == name))
            await db.delete(row)

    def _apply(self, row: ContainerRegistryRow, data: RegistryInput) -> None:
        if data.url is not None:
            row.url = data.url
        if data.type is not None:
            row.type = data.type
        if data.username is not None:
            row.username = data.username
        if data.password is not None:
            row.password_encrypted = self._box.encrypt(data.password) if data.password else None
        if data.ssl_verify is not None:
            row.ssl_verify = data.ssl_verify


async def _row(db: AsyncSession, name: str, *, lock: bool = False) -> ContainerRegistryRow:
    stmt = select(ContainerRegistryRow).where(ContainerRegistryRow.name == name)
    row = (await db.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()
    if row is None:
        raise ContainerRegistryNotFound(f"container registry {name!r} does not exist")
    return row


def task_from_row(row: RescanTaskRow) -> RescanTask:
    return RescanTask(
        task_id=row.id,
        container_registry=row.container_registry,
        state=TaskState(row.state),
        done=row.done,
        total=row.total,
        updated=row.updated,
        messages=tuple(row.messages),
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


class SqlTaskStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], node_id: str) -> None:
        self._sessions = sessions
        self._node_id = node_id

    async def start(self, task_id: str, registry: str, now: datetime) -> RescanTask:
        row = RescanTaskRow(
            id=task_id,
            container_registry=registry,
            state=TaskState.RUNNING.value,
            done=0,
            total=0,
            updated=0,
            messages=[],
            error="",
            node_id=self._node_id,
            created_at=now,
        )
        async with self._sessions.begin() as db:
            db.add(row)
            await db.flush()
            return task_from_row(row)

    async def get(self, task_id: str) -> RescanTask:
        async with self._sessions() as db:
            row = await db.get(RescanTaskRow, task_id)
            if row is None:
                raise RescanTaskNotFound(f"rescan task {task_id} does not exist")
            return task_from_row(row)

    async def progress(
        self, task_id: str, *, done: int, total: int, updated: int, messages: Sequence[str]
    ) -> None:
        async with self._sessions.begin() as db:
            await db.execute(
                update(RescanTaskRow)
                .where(RescanTaskRow.id == task_id)
                .values(done=done, total=total, updated=updated, messages=list(messages))
            )

    async def finish(self, task_id: str, *, error: str, now: datetime) -> None:
        state = TaskState.FAILED if error else TaskState.SUCCEEDED
        async with self._sessions.begin() as db:
            await db.execute(
                update(RescanTaskRow)
                .where(RescanTaskRow.id == task_id)
                .values(state=state.value, error=error, finished_at=now)
            )

    async def fail_interrupted(self, now: datetime) -> int:
        async with self._sessions.begin() as db:
            result = await db.execute(
                update(RescanTaskRow)
                .where(
                    RescanTaskRow.node_id == self._node_id,
                    RescanTaskRow.state == TaskState.RUNNING.value,
                )
                .values(
                    state=TaskState.FAILED.value,
                    error="interrupted: the registry service stopped during the rescan",
                    finished_at=now,
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
