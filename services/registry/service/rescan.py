"""Rescanning a container registry as a background task whose progress is stored and polled.

total grows as repositories are listed; done counts scanned tags. Tags are scanned with a
bounded concurrency per registry; one bad tag is skipped with a message, an unreachable registry
fails the task.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from libs.core.ids import new_id
from libs.core.tasks import cancel_all, spawn
from services.registry.domain.image_labels import LabelError, parse_labels
from services.registry.domain.images import RescanTask
from services.registry.service.image_ports import (
    ImageStore,
    RegistryStore,
    ScanFailed,
    Scanner,
    ScannerFactory,
    TagOutcome,
    TaskStore,
)

log = logging.getLogger(__name__)
MAX_MESSAGES = 100
# Progress is written at most this often (and at the end): polling needs no per-tag writes.
PROGRESS_INTERVAL = 0.2


@dataclass(slots=True)
class _Progress:
    done: int = 0
    total: int = 0
    updated: int = 0
    messages: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)


@dataclass
class Rescans:
    registries: RegistryStore
    tasks: TaskStore
    images: ImageStore
    scanners: ScannerFactory
    concurrency: int = 4
    running: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, registry: str) -> RescanTask:
        credentials = await self.registries.credentials(registry)  # NOT_FOUND before a task
        task = await self.tasks.start(new_id(), registry, datetime.now(UTC))
        job = spawn(self._run(task.task_id, credentials.registry.name), f"rescan-{registry}")
        self.running.add(job)
        job.add_done_callback(self.running.discard)
        return task

    async def get(self, task_id: str) -> RescanTask:
        return await self.tasks.get(task_id)

    async def recover(self) -> None:
        count = await self.tasks.fail_interrupted(datetime.now(UTC))
        if count:
            log.warning("%d rescans were interrupted by a restart; marked FAILED", count)

    async def stop(self) -> None:
        await cancel_all(list(self.running))

    async def _run(self, task_id: str, registry: str) -> None:
        progress = _Progress()
        error = ""
        try:
            await self._scan_all(task_id, registry, progress)
        except ScanFailed as exc:
            error = str(exc)
        except asyncio.CancelledError:
            error = "interrupted: the registry service stopped during the rescan"
            raise
        except Exception as exc:
            log.exception("rescan of %s failed", registry)
            error = f"internal error: {exc}"
        finally:
            await self._save(task_id, progress)
            await self.tasks.finish(task_id, error=error, now=datetime.now(UTC))
        log.info(
            "rescan of %s: %d/%d tags, %d images",
            registry,
            progress.done,
            progress.total,
            progress.updated,
        )

    async def _scan_all(self, task_id: str, registry: str, progress: _Progress) -> None:
        scanner = self.scanners(await self.registries.credentials(registry))
        gate = asyncio.Semaphore(self.concurrency)
        saver = spawn(self._save_periodically(task_id, progress), f"rescan-progress-{task_id}")
        jobs: list[asyncio.Task[None]] = []
        try:
            async for repository, tag in scanner.tags():
                progress.total += 1
                await gate.acquire()
                jobs.append(
                    asyncio.create_task(
                        self._one(scanner, registry, repository, tag, progress, gate)
                    )
                )
            await asyncio.gather(*jobs)
        finally:
            await cancel_all([saver, *jobs])
            await scanner.close()

    async def _one(
        self,
        scanner: Scanner,
        registry: str,
        repository: str,
        tag: str,
        progress: _Progress,
        gate: asyncio.Semaphore,
    ) -> None:
        try:
            try:
                outcome = await scanner.scan(repository, tag)
            except ScanFailed as exc:
                outcome = TagOutcome(repository=repository, tag=tag, skipped=str(exc))
            await self._record(registry, outcome, progress)
        finally:
            progress.done += 1
            gate.release()

    async def _record(self, registry: str, outcome: TagOutcome, progress: _Progress) -> None:
        name = f"{outcome.repository}:{outcome.tag}"
        if outcome.skipped:
            progress.note(f"skipped {name} ({outcome.skipped})")
            return
        for image in outcome.images:
            try:
                parse_labels(image.labels)
            except LabelError as exc:
                progress.note(f"skipped {name}/{image.architecture} ({exc})")
                continue
            await self.images.upsert(registry, image, datetime.now(UTC))
            progress.updated += 1
            progress.note(f"updated {name}/{image.architecture}")

    async def _save_periodically(self, task_id: str, progress: _Progress) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            await self._save(task_id, progress)

    async def _save(self, task_id: str, progress: _Progress) -> None:
        await self.tasks.progress(
            task_id,
            done=progress.done,
            total=progress.total,
            updated=progress.updated,
            messages=progress.messages,
        )
