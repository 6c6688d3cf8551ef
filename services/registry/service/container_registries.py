"""Container registries: superadmin CRUD (passwords write-only) and rescans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from libs.core.errors import FieldViolation, InvalidArgument
from services.registry.domain.images import ContainerRegistry
from services.registry.service.image_ports import RegistryInput, RegistryStore
from services.registry.service.pages import Page, cut, limit_for

UPDATABLE = frozenset({"url", "type", "username", "password", "ssl_verify"})


@dataclass(frozen=True, slots=True)
class ContainerRegistries:
    store: RegistryStore

    async def create(self, name: str, data: RegistryInput) -> ContainerRegistry:
        if not data.url:
            raise InvalidArgument(
                "container_registry.url is required",
                violations=[FieldViolation("container_registry.url", "required")],
            )
        return await self.store.create(name, data, datetime.now(UTC))

    async def get(self, name: str) -> ContainerRegistry:
        return await self.store.get(name)

    async def list(self, *, page_size: int, after: str) -> Page[ContainerRegistry]:
        limit = limit_for(page_size)
        rows = await self.store.list_registries(after=after, limit=limit + 1)
        return cut(rows, limit, lambda r: (r.name,))

    async def update(self, name: str, mask: set[str], data: RegistryInput) -> ContainerRegistry:
        unknown = sorted(mask - UPDATABLE)
        if unknown or not mask:
            raise InvalidArgument(
                f"update_mask may name only {sorted(UPDATABLE)}",
                violations=[FieldViolation("update_mask", f"cannot update {unknown or 'nothing'}")],
            )
        if "url" in mask and not data.url:
            raise InvalidArgument(
                "container_registry.url cannot be empty",
                violations=[FieldViolation("container_registry.url", "required")],
            )
        return await self.store.update(name, data)

    async def delete(self, name: str) -> None:
        await self.store.delete(name)
