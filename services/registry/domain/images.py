"""Images, registries and resource groups as the registry reasons about them (pure Python)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from libs.core.slots import ResourceSlots
from services.registry.domain.group_scheduling import GroupScheduling
from services.registry.domain.image_labels import ImageSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRef:
    """A canonical image reference: registry/repository:tag."""

    registry: str
    repository: str
    tag: str

    @property
    def canonical(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    """One architecture of one reference, as a rescan found it."""

    image_id: str
    ref: ImageRef
    architecture: str
    container_registry: str
    config_digest: str
    manifest_digest: str
    size_bytes: int
    labels: Mapping[str, str]
    spec: ImageSpec
    aliases: tuple[str, ...] = ()
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ScannedImage:
    """What a scanner reports for one tag and architecture."""

    ref: ImageRef
    architecture: str
    config_digest: str
    manifest_digest: str
    size_bytes: int
    labels: Mapping[str, str]


class RegistryType(StrEnum):
    DOCKER = "docker"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRegistry:
    name: str
    url: str
    type: RegistryType
    username: str
    has_password: bool
    ssl_verify: bool
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryCredentials:
    """A registry with its decrypted password, for scanners only; never leaves the service."""

    registry: ContainerRegistry
    password: str = field(repr=False)


class TaskState(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class RescanTask:
    task_id: str
    container_registry: str
    state: TaskState
    done: int
    total: int
    updated: int
    messages: tuple[str, ...]
    error: str
    created_at: datetime
    finished_at: datetime | None

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceGroup:
    name: str
    description: str
    is_active: bool
    created_at: datetime
    scheduling: GroupScheduling = field(default_factory=GroupScheduling)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedImage:
    """What CreateSession needs of an image: its reference, architectures and minimums."""

    canonical: str
    architectures: tuple[str, ...]
    # Per architecture, the image's resource minimums (absent for images only agents report).
    minimums: Mapping[str, ResourceSlots]
    service_ports: str = ""
