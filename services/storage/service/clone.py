"""Cloning a folder as a background task.

The caller may clone a folder they can see when it is `cloneable`, or when they own it or are an
admin over it. In one transaction the source goes `cloning` (readable, not changeable), the new
folder is added as `performing` (invisible until done) and a task row records the work; the copy
then runs in the background, publishing bytes and entries copied to the task row. At the end, in
one transaction, the task is `done` (the new folder ready) or `failed` (the new folder's row and
directory gone), and the source is ready again either way. A task a stopped service left running
is failed cleanly at the next start (`recover`), with the same effect as a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from libs.core.identity import Caller, Role
from libs.core.ids import new_id
from services.storage.domain import file_errors as fe
from services.storage.domain.access import canonical_id, owner_id_of
from services.storage.domain.errors import VFolderNotFound
from services.storage.domain.model import MountPermission, UsageMode, VFolder, VFolderStatus
from services.storage.domain.names import check_name
from services.storage.domain.tasks import NotCloneable, TaskNotFound, TaskState, VFolderTask
from services.storage.service.create import utc_now
from services.storage.service.files import FileOperations
from services.storage.service.limits import FolderLimits
from services.storage.service.ports import Clock, UnitOfWorkFactory
from services.storage.service.quotas import QuotaScopes
from services.storage.service.task_ports import Progress, TaskStore, TreeCopier
from services.storage.service.volumes import Volumes

log = logging.getLogger(__name__)
RESTART_ERROR = "interrupted: the storage service stopped while it ran"


class CloneVFolders:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        files: FileOperations,
        volumes: Volumes,
        tasks: TaskStore,
        copier: TreeCopier,
        new_progress: Callable[[], Progress],
        quotas: QuotaScopes | None = None,
        limits: FolderLimits | None = None,
        clock: Clock = utc_now,
        progress_interval: float = 1.0,
    ) -> None:
        self._uow = uow
        self._files = files
        self._volumes = volumes
        self._tasks = tasks
        self._copier = copier
        self._new_progress = new_progress
        self._quotas = quotas
        self._limits = limits
        self._clock = clock
        self._interval = progress_interval
        self._running: set[asyncio.Task[None]] = set()

    async def clone(
        self,
        caller: Caller,
        source_id: str,
        *,
        name: str,
        volume: str = "",
        permission: MountPermission = MountPermission.READ_WRITE,
        usage_mode: UsageMode = UsageMode.GENERAL,
    ) -> VFolderTask:
        source, _permission = await self._files.visible(caller, source_id)
        me = canonical_id(caller.user_id)
        if not (source.cloneable or source.owner_user_id == me or caller.is_admin):
            raise NotCloneable(f"vfolder {source.id} is not cloneable")
        if source.status is not VFolderStatus.READY:
            raise fe.FolderNotReady(f"vfolder {source.id} is {source.status.value}")
        check_name(name, project=False)
        backend = self._volumes.get(volume or source.volume)
        if self._limits is not None:
            await self._limits.before_create(caller, volume=backend.name, project=False)
        now = self._clock()
        owner = owner_id_of(caller)
        target = VFolder(
            id=new_id(),
            name=name,
            owner_user_id=owner,
            volume=backend.name,
            status=VFolderStatus.PERFORMING,
            created_at=now,
            domain_name=caller.domain_name,
            permission=permission,
            usage_mode=usage_mode,
        )
        if self._quotas is not None:
            size, _count = await self._volumes.of(source).usage(source.id)
            await self._quotas.ensure_room(target, size)
        task = VFolderTask(
            id=new_id(),
            kind="clone",
            owner_user_id=owner,
            source_id=source.id,
            target_id=target.id,
            state=TaskState.RUNNING,
            bytes_copied=0,
            files_copied=0,
            error="",
            created_at=now,
            updated_at=now,
        )
        await backend.create_dir(target.id)
        try:
            started = await self._tasks.start(task, target)
        except BaseException:
            await backend.delete_dir(target.id)
            raise
        if not started:
            await backend.delete_dir(target.id)
            raise fe.FolderNotReady(f"vfolder {source.id} is busy")
        job = asyncio.create_task(self._run(task, source, target))
        self._running.add(job)
        job.add_done_callback(self._running.discard)
        return task

    async def get(self, caller: Caller, task_id: str) -> VFolderTask:
        """A task its starter (or a superadmin) asks about; VFOLDER_TASK_NOT_FOUND otherwise."""
        key = canonical_id(task_id)
        task = await self._tasks.get(key) if key else None
        mine = task is not None and task.owner_user_id == canonical_id(caller.user_id)
        if task is None or not (mine or caller.system or caller.role is Role.SUPERADMIN):
            raise TaskNotFound(f"task {task_id} not found")
        return task

    async def recover(self) -> int:
        """Fail the tasks a stopped service left running; how many there were."""
        stale = await self._tasks.running()
        for task in stale:
            await self._discard_target(task.target_id)
            await self._tasks.settle(
                task,
                ok=False,
                bytes_copied=task.bytes_copied,
                files_copied=task.files_copied,
                error=RESTART_ERROR,
            )
            log.warning("clone task %s was interrupted by a restart: failed", task.id)
        return len(stale)

    async def stop(self) -> None:
        """Stop following running copies (they stay `running` for `recover`)."""
        for job in list(self._running):
            job.cancel()
        for job in list(self._running):
            with contextlib.suppress(asyncio.CancelledError):
                await job

    async def wait_idle(self) -> None:
        """Until every clone started here has settled."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _run(self, task: VFolderTask, source: VFolder, target: VFolder) -> None:
        progress = self._new_progress()
        copy = asyncio.create_task(
            self._copier.copy(
                self._volumes.of(source).path_of(source.id),
                self._volumes.of(target).path_of(target.id),
                progress,
            )
        )
        error = ""
        try:
            while not copy.done():
                await asyncio.wait({copy}, timeout=self._interval)
                await self._tasks.progress(task.id, progress.bytes_copied, progress.files_copied)
            copy.result()
        except asyncio.CancelledError:
            copy.cancel()
            raise
        except Exception as exc:
            log.exception("clone task %s failed", task.id)
            error = f"the copy failed: {exc}"
        if error:
            await self._discard_target(target.id)
        await self._tasks.settle(
            task,
            ok=not error,
            bytes_copied=progress.bytes_copied,
            files_copied=progress.files_copied,
            error=error,
        )

    async def _discard_target(self, target_id: str) -> None:
        async with self._uow() as uow:
            try:
                target = await uow.vfolders.get(target_id)
            except VFolderNotFound:
                return
        if target.status is VFolderStatus.PERFORMING:
            try:
                await self._volumes.of(target).delete_dir(target.id)
            except Exception:
                log.exception("could not remove the half-made clone %s", target.id)
