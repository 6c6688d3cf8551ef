"""Images and aliases: listing for everyone, forgetting and aliasing for superadmins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from libs.core.errors import FieldViolation, InvalidArgument
from services.registry.domain.image_ref import BadReference, canonical, normalize_arch
from services.registry.domain.images import Image
from services.registry.service.image_ports import ImageStore
from services.registry.service.pages import Page, cut, limit_for


@dataclass(frozen=True, slots=True)
class Images:
    store: ImageStore

    async def list(
        self,
        *,
        page_size: int,
        after: tuple[str, str] | None,
        registry: str,
        architecture: str,
    ) -> Page[Image]:
        limit = limit_for(page_size)
        rows = await self.store.list_images(
            after=after,
            limit=limit + 1,
            registry=registry,
            architecture=normalize_arch(architecture) if architecture else "",
        )
        return cut(rows, limit, lambda i: (i.ref.canonical, i.architecture))

    async def get(self, image_id: str) -> Image:
        return await self.store.get(image_id)

    async def forget(self, image_id: str) -> None:
        await self.store.delete(image_id)

    async def create_alias(self, alias: str, target: str) -> tuple[str, str]:
        try:
            ref = canonical(target)
        except BadReference as exc:
            raise InvalidArgument(
                f"image_alias.target: {exc}",
                violations=[FieldViolation("image_alias.target", str(exc))],
            ) from None
        await self.store.create_alias(alias, ref, datetime.now(UTC))
        return alias, ref

    async def list_aliases(self, *, page_size: int, after: str) -> Page[tuple[str, str]]:
        limit = limit_for(page_size)
        rows = await self.store.list_aliases(after=after, limit=limit + 1)
        return cut(rows, limit, lambda a: (a[0],))

    async def delete_alias(self, alias: str) -> None:
        await self.store.delete_alias(alias)
