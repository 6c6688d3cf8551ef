"""What the image, container-registry and resource-group use cases need from outside."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.registry.domain.images import (
    ContainerRegistry,
    Image,
    RegistryCredentials,
    RescanTask,
    ResourceGroup,
    ScannedImage,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryInput:
    """Fields of a registry to write; None leaves a field unchanged (updates)."""

    url: str | None = None
    type: str | None = None
    username: str | None = None
    password: str | None = None
    ssl_verify: bool | None = None


class ResourceGroupStore(Protocol):
    async def create(self, group: ResourceGroup) -> ResourceGroup: ...
    async def get(self, name: str) -> ResourceGroup: ...
    async def list_groups(
        self, *, after: str, limit: int, active_only: bool
    ) -> list[ResourceGroup]: ...
    async def update(self, name: str, changes: Mapping[str, object]) -> ResourceGroup: ...
    async def delete(self, name: str) -> None: ...


class ImageStore(Protocol):
    async def list_images(
        self, *, after: tuple[str, str] | None, limit: int, registry: str, architecture: str
    ) -> list[Image]: ...
    async def get(self, image_id: str) -> Image: ...
    async def delete(self, image_id: str) -> None: ...
    async def by_name(self, canonical: str) -> list[Image]: ...
    async def upsert(self, registry: str, scanned: ScannedImage, now: datetime) -> None: ...
    async def create_alias(self, alias: str, target: str, now: datetime) -> None: ...
    async def list_aliases(self, *, after: str, limit: int) -> list[tuple[str, str]]: ...
    async def delete_alias(self, alias: str) -> None: ...
    async def alias_target(self, alias: str) -> str | None: ...
    async def agent_architectures(self, canonical: str) -> list[str]:
        """Architectures of the agents that report the image in their inventory."""
        ...


class RegistryStore(Protocol):
    async def create(self, name: str, data: RegistryInput, now: datetime) -> ContainerRegistry: ...
    async def get(self, name: str) -> ContainerRegistry: ...
    async def credentials(self, name: str) -> RegistryCredentials: ...
    async def list_registries(self, *, after: str, limit: int) -> list[ContainerRegistry]: ...
    async def update(self, name: str, data: RegistryInput) -> ContainerRegistry: ...
    async def delete(self, name: str) -> None: ...


class TaskStore(Protocol):
    async def start(self, task_id: str, registry: str, now: datetime) -> RescanTask: ...
    async def get(self, task_id: str) -> RescanTask: ...
    async def progress(
        self, task_id: str, *, done: int, total: int, updated: int, messages: Sequence[str]
    ) -> None: ...
    async def finish(self, task_id: str, *, error: str, now: datetime) -> None: ...
    async def fail_interrupted(self, now: datetime) -> int:
        """Tasks this node left RUNNING when it stopped: FAILED. Returns how many."""
        ...


class ScanFailed(Exception):
    """The registry cannot be scanned (unreachable, credentials refused, no catalog)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TagOutcome:
    """One scanned tag: its images (one per architecture), or why it was skipped."""

    repository: str
    tag: str
    images: tuple[ScannedImage, ...] = ()
    skipped: str = ""


class Scanner(Protocol):
    """Lists a registry's tags and reads their manifests (one implementation per type)."""

    def tags(self) -> AsyncIterator[tuple[str, str]]:
        """Every (repository, tag) of the registry."""
        ...

    async def scan(self, repository: str, tag: str) -> TagOutcome: ...
    async def close(self) -> None: ...


class ScannerFactory(Protocol):
    def __call__(self, credentials: RegistryCredentials) -> Scanner: ...
