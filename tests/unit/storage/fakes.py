"""In-memory fakes of the storage ports, with transaction semantics and failure switches."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType

from libs.core.identity import Caller, Role
from services.storage.domain.errors import (
    VFolderAlreadyExists,
    VFolderNotFound,
    VolumeOperationFailed,
)
from services.storage.domain.model import (
    Cursor,
    FolderFilter,
    MountPermission,
    VFolder,
    VFolderStatus,
)


class FakeVFolderRepository:
    def __init__(self, rows: dict[str, VFolder]) -> None:
        self.rows = rows

    async def add(self, folder: VFolder) -> None:
        self._check_name(folder)
        self.rows[folder.id] = folder

    def _check_name(self, folder: VFolder) -> None:
        """The unique index on (owner, name) among live folders (not trashed, not deleting)."""
        for row in self.rows.values():
            live = row.status not in (VFolderStatus.DELETING, VFolderStatus.TRASHED)
            same = (row.owner_user_id, row.name) == (folder.owner_user_id, folder.name)
            if live and same and row.id != folder.id:
                raise VFolderAlreadyExists(f"{folder.name} exists")

    async def get(self, vfolder_id: str, *, for_update: bool = False) -> VFolder:
        if vfolder_id not in self.rows:
            raise VFolderNotFound(vfolder_id)
        return self.rows[vfolder_id]

    async def list(
        self, *, scope: FolderFilter, after: Cursor | None, limit: int
    ) -> Sequence[VFolder]:
        rows = sorted(
            (
                r
                for r in self.rows.values()
                if (
                    r.status is scope.status
                    or (scope.status is VFolderStatus.READY and r.status is VFolderStatus.CLONING)
                )
                and _in_filter(r, scope)
                and (after is None or (r.created_at, r.id) > (after.created_at, after.id))
            ),
            key=lambda r: (r.created_at, r.id),
        )
        return rows[:limit]

    async def find_by_names(
        self,
        owner_user_id: str,
        names: Sequence[str],
        project_id: str = "",
        *,
        dot_folders: bool = False,
    ) -> Sequence[VFolder]:
        return [
            r
            for r in self.rows.values()
            if (r.owner_user_id == owner_user_id or (project_id and r.project_id == project_id))
            and (r.name in names or (dot_folders and r.name.startswith(".")))
            and r.status is VFolderStatus.READY
        ]

    async def set_status(self, vfolder_id: str, status: VFolderStatus) -> None:
        trashed_at = FakeClock.START if status is VFolderStatus.TRASHED else None
        changed = replace(self.rows[vfolder_id], status=status, trashed_at=trashed_at)
        if status is VFolderStatus.READY:
            self._check_name(changed)
        self.rows[vfolder_id] = changed

    async def update(self, folder: VFolder) -> None:
        self._check_name(folder)
        self.rows[folder.id] = folder

    async def trashed_before(self, cutoff: datetime, limit: int) -> Sequence[str]:
        rows = [
            r
            for r in self.rows.values()
            if r.status is VFolderStatus.TRASHED and r.trashed_at and r.trashed_at < cutoff
        ]
        return [r.id for r in sorted(rows, key=lambda r: r.trashed_at or cutoff)][:limit]

    async def delete(self, vfolder_id: str) -> None:
        self.rows.pop(vfolder_id, None)


def _in_filter(row: VFolder, scope: FolderFilter) -> bool:
    if scope.domain_name is not None and row.domain_name != scope.domain_name:
        return False
    if scope.owner_user_id is None:
        return True
    return row.owner_user_id == scope.owner_user_id or (
        bool(row.project_id) and row.project_id in scope.project_ids
    )


class FakeGrants:
    """Permission rows (accepted invitations and shares), keyed by (folder id, user id)."""

    def __init__(self, rows: dict[tuple[str, str], MountPermission]) -> None:
        self.rows = rows

    async def grants_for(self, user_id: str, vfolder_ids: list[str]) -> dict[str, MountPermission]:
        return {f: p for (f, u), p in self.rows.items() if u == user_id and f in vfolder_ids}

    async def grants_on(self, vfolder_id: str, user_ids: list[str]) -> dict[str, MountPermission]:
        return {u: p for (f, u), p in self.rows.items() if f == vfolder_id and u in user_ids}


class FakeDatabase:
    """Committed state; each unit of work works on a copy and publishes it on commit."""

    def __init__(self) -> None:
        self.rows: dict[str, VFolder] = {}
        self.grants: dict[tuple[str, str], MountPermission] = {}
        self.fail_commit: BaseException | None = None
        self.commits = 0

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def set_status(self, vfolder_id: str, status: VFolderStatus) -> None:
        """Simulate a state left behind (e.g. a crash after marking a folder deleting)."""
        self.rows[vfolder_id] = replace(self.rows[vfolder_id], status=status)


class FakeUnitOfWork:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self._repo = FakeVFolderRepository({})

    @property
    def vfolders(self) -> FakeVFolderRepository:
        return self._repo

    @property
    def sharing(self) -> FakeGrants:
        return FakeGrants(self._db.grants)

    async def __aenter__(self) -> FakeUnitOfWork:
        self._repo = FakeVFolderRepository(dict(self._db.rows))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._repo = FakeVFolderRepository({})

    async def commit(self) -> None:
        if self._db.fail_commit is not None:
            raise self._db.fail_commit
        self._db.rows = dict(self._repo.rows)
        self._db.commits += 1


class FakeVolume:
    def __init__(self, name: str = "local") -> None:
        self._name = name
        self.dirs: set[str] = set()
        self.fail_create = False
        self.fail_delete = False

    @property
    def name(self) -> str:
        return self._name

    async def create_dir(self, vfolder_id: str) -> None:
        if self.fail_create:
            raise VolumeOperationFailed("disk full")
        self.dirs.add(vfolder_id)

    async def delete_dir(self, vfolder_id: str) -> None:
        if self.fail_delete:
            raise VolumeOperationFailed("busy")
        self.dirs.discard(vfolder_id)

    def path_of(self, vfolder_id: str) -> str:
        return f"/volumes/{self._name}/{vfolder_id[:2]}/{vfolder_id}"


class FakeFolderFiles:
    """Records the directories made inside folders (ResolveMounts makes per-user `.local` ones)."""

    def __init__(self) -> None:
        self.made: list[tuple[str, tuple[str, ...]]] = []

    async def make_dir(
        self, root: str, parts: tuple[str, ...], *, parents: bool, exist_ok: bool
    ) -> None:
        self.made.append((root, parts))


class FakeClock:
    """Strictly increasing times, so creation order is list order."""

    START = datetime(2026, 1, 1, tzinfo=UTC)

    def __init__(self) -> None:
        self.now = self.START

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def user(role: Role = Role.USER) -> Caller:
    return Caller(user_id=str(uuid.uuid4()), role=role)
