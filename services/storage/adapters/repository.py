"""VFolderRepository and UnitOfWork on PostgreSQL (SQLAlchemy Core over an AsyncSession)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    Update,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.storage.adapters.sharing_repository import SqlSharingRepository
from services.storage.adapters.tables import vfolder_permissions, vfolders
from services.storage.domain.errors import VFolderAlreadyExists, VFolderNotFound
from services.storage.domain.model import (
    Cursor,
    FolderFilter,
    MountPermission,
    UsageMode,
    VFolder,
    VFolderStatus,
)

# Must match the unique index predicate for ON CONFLICT (a literal, not a bound parameter).
_LIVE = text("status NOT IN ('deleting', 'trashed')")
_UNIQUE_NAME = "uq_vfolders_owner_name_live"


def to_folder(row: RowMapping) -> VFolder:
    return VFolder(
        id=str(row["id"]),
        name=row["name"],
        owner_user_id=str(row["owner_user_id"]),
        volume=row["volume"],
        status=VFolderStatus(row["status"]),
        created_at=row["created_at"],
        domain_name=row["domain_name"],
        project_id=row["project_id"] or "",
        permission=MountPermission(row["permission"]),
        usage_mode=UsageMode(row["usage_mode"]),
        cloneable=row["cloneable"],
        trashed_at=row["trashed_at"],
    )


class SqlVFolderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, folder: VFolder) -> None:
        stmt = (
            insert(vfolders)
            .values(
                id=folder.id,
                name=folder.name,
                owner_user_id=folder.owner_user_id,
                volume=folder.volume,
                status=folder.status.value,
                created_at=folder.created_at,
                domain_name=folder.domain_name,
                project_id=folder.project_id or None,
                permission=folder.permission.value,
                usage_mode=folder.usage_mode.value,
                cloneable=folder.cloneable,
            )
            # No exception on a duplicate: the transaction stays usable and races are settled
            # by the unique index (a concurrent insert waits, then conflicts).
            .on_conflict_do_nothing(index_elements=["owner_user_id", "name"], index_where=_LIVE)
            .returning(vfolders.c.id)
        )
        if (await self._session.execute(stmt)).scalar_one_or_none() is None:
            raise VFolderAlreadyExists(
                f"a vfolder named {folder.name!r} already exists", metadata={"name": folder.name}
            )

    async def get(self, vfolder_id: str, *, for_update: bool = False) -> VFolder:
        stmt = select(vfolders).where(vfolders.c.id == vfolder_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._session.execute(stmt)).mappings().one_or_none()
        if row is None:
            raise VFolderNotFound(f"vfolder {vfolder_id} not found")
        return to_folder(row)

    async def list(
        self, *, scope: FolderFilter, after: Cursor | None, limit: int
    ) -> Sequence[VFolder]:
        if scope.status is VFolderStatus.READY:
            usable = (VFolderStatus.READY.value, VFolderStatus.CLONING.value)
            stmt = select(vfolders).where(vfolders.c.status.in_(usable))
        else:
            stmt = select(vfolders).where(vfolders.c.status == scope.status.value)
        if scope.owner_user_id is not None:
            mine = or_(
                vfolders.c.owner_user_id == scope.owner_user_id,
                vfolders.c.id.in_(_shared_with(scope.owner_user_id)),
            )
            if scope.project_ids:
                mine = or_(mine, vfolders.c.project_id.in_(list(scope.project_ids)))
            stmt = stmt.where(mine)
        if scope.domain_name is not None:
            stmt = stmt.where(vfolders.c.domain_name == scope.domain_name)
        if after is not None:
            key = tuple_(vfolders.c.created_at, vfolders.c.id)
            after_key = tuple_(
                literal(after.created_at, vfolders.c.created_at.type),
                literal(after.id, vfolders.c.id.type),
            )
            stmt = stmt.where(key > after_key)
        stmt = stmt.order_by(vfolders.c.created_at, vfolders.c.id).limit(limit)
        return [to_folder(r) for r in (await self._session.execute(stmt)).mappings()]

    async def find_by_names(
        self,
        owner_user_id: str,
        names: Sequence[str],
        project_id: str = "",
        *,
        dot_folders: bool = False,
    ) -> Sequence[VFolder]:
        whose = or_(
            vfolders.c.owner_user_id == owner_user_id,
            vfolders.c.id.in_(_shared_with(owner_user_id)),
        )
        if project_id:
            whose = or_(whose, vfolders.c.project_id == project_id)
        named: ColumnElement[bool] = vfolders.c.name.in_(list(names))
        if dot_folders:
            named = or_(named, vfolders.c.name.startswith(".", autoescape=True))
        stmt = select(vfolders).where(whose, named, vfolders.c.status == VFolderStatus.READY.value)
        return [to_folder(r) for r in (await self._session.execute(stmt)).mappings()]

    async def set_status(self, vfolder_id: str, status: VFolderStatus) -> None:
        trashed_at = func.now() if status is VFolderStatus.TRASHED else None
        stmt = (
            update(vfolders)
            .where(vfolders.c.id == vfolder_id)
            .values(status=status.value, trashed_at=trashed_at)
        )
        await self._unique_name(stmt)

    async def update(self, folder: VFolder) -> None:
        stmt = (
            update(vfolders)
            .where(vfolders.c.id == folder.id)
            .values(
                name=folder.name,
                permission=folder.permission.value,
                usage_mode=folder.usage_mode.value,
                cloneable=folder.cloneable,
            )
        )
        await self._unique_name(stmt, folder.name)

    async def trashed_before(self, cutoff: datetime, limit: int) -> Sequence[str]:
        stmt = (
            select(vfolders.c.id)
            .where(vfolders.c.status == VFolderStatus.TRASHED.value, vfolders.c.trashed_at < cutoff)
            .order_by(vfolders.c.trashed_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [str(i) for i in (await self._session.execute(stmt)).scalars()]

    async def _unique_name(self, stmt: Update, name: str = "") -> None:
        """Run `stmt`; a clash with a live folder's name is VFolderAlreadyExists."""
        try:
            async with self._session.begin_nested():
                await self._session.execute(stmt)
        except IntegrityError as exc:
            if _UNIQUE_NAME not in str(exc.orig):
                raise
            raise VFolderAlreadyExists(
                "a live vfolder of that name already exists", metadata={"name": name}
            ) from exc

    async def delete(self, vfolder_id: str) -> None:
        await self._session.execute(delete(vfolders).where(vfolders.c.id == vfolder_id))


def _shared_with(user_id: str) -> Select[tuple[str]]:
    """Folders with a permission row for the user (accepted invitations and shares)."""
    return select(vfolder_permissions.c.vfolder_id).where(vfolder_permissions.c.user_id == user_id)


class SqlUnitOfWork:
    """One AsyncSession, one transaction; never shared between tasks."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._vfolders: SqlVFolderRepository | None = None
        self._sharing: SqlSharingRepository | None = None

    @property
    def vfolders(self) -> SqlVFolderRepository:
        if self._vfolders is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._vfolders

    @property
    def sharing(self) -> SqlSharingRepository:
        if self._sharing is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._sharing

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self._vfolders = SqlVFolderRepository(self._session)
        self._sharing = SqlSharingRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()  # rolls back whatever was not committed
        self._session = self._vfolders = self._sharing = None

    async def commit(self) -> None:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        await self._session.commit()
