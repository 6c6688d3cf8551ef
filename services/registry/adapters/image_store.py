"""Images and aliases in PostgreSQL; agents' inventories are read from the agents table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.ids import new_id
from libs.db.reads import Fields, ReadPool
from services.registry.adapters.image_tables import ImageAliasRow, ImageRow
from services.registry.adapters.tables import AgentRow
from services.registry.domain.errors import ImageAliasExists, ImageAliasNotFound, ImageNotFound
from services.registry.domain.image_labels import ImageSpec, LabelError, parse_labels
from services.registry.domain.images import Image, ImageRef, ScannedImage

_AGENTS = cast(Table, AgentRow.__table__).fullname
# A loose index scan: the distinct architectures one index probe each, then per architecture
# whether any of its agents has the image (the first one found ends the search).
_ARCHITECTURES_WITH = (
    "WITH RECURSIVE archs(a) AS ("
    f" SELECT min(architecture) FROM {_AGENTS}"
    f" UNION ALL SELECT (SELECT min(architecture) FROM {_AGENTS} WHERE architecture > archs.a)"
    " FROM archs WHERE archs.a IS NOT NULL)"
    " SELECT a FROM archs WHERE a IS NOT NULL AND EXISTS (SELECT 1 FROM"
    f" {_AGENTS} AS g WHERE g.architecture = archs.a AND g.images @> CAST($1 AS jsonb))"
    " ORDER BY a"
)
_ARCHITECTURES_TEXT = text(_ARCHITECTURES_WITH.replace("$1", ":image"))
# CreateSession's lookups, on the read pool when there is one (docs/decisions.md, D5).
_IMAGES = cast(Table, ImageRow.__table__)
_COLUMNS = ", ".join(f"{c.name}::text AS {c.name}" if c.name == "id" else c.name for c in _IMAGES.c)
_BY_NAME = f"SELECT {_COLUMNS} FROM {_IMAGES.fullname} WHERE name = $1 ORDER BY architecture"
_ALIAS = f"SELECT target FROM {cast(Table, ImageAliasRow.__table__).fullname} WHERE alias = $1"


def _spec(labels: dict[str, str]) -> ImageSpec:
    try:
        return parse_labels(labels)
    except LabelError:
        # Rescans store only valid images; labels edited by hand must not break listing.
        return ImageSpec(kernelspec=0)


def image_from_row(row: ImageRow, aliases: tuple[str, ...] = ()) -> Image:
    return Image(
        image_id=row.id,
        ref=ImageRef(registry=row.registry_host, repository=row.repository, tag=row.tag),
        architecture=row.architecture,
        container_registry=row.container_registry,
        config_digest=row.config_digest,
        manifest_digest=row.manifest_digest,
        size_bytes=row.size_bytes,
        labels=dict(row.labels),
        spec=_spec(row.labels),
        aliases=aliases,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlImageStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], reads: ReadPool | None = None
    ) -> None:
        self._sessions = sessions
        self._reads = reads

    async def list_images(
        self, *, after: tuple[str, str] | None, limit: int, registry: str, architecture: str
    ) -> list[Image]:
        stmt = select(ImageRow)
        if after is not None:
            stmt = stmt.where(tuple_(ImageRow.name, ImageRow.architecture) > after)
        if registry:
            stmt = stmt.where(ImageRow.container_registry == registry)
        if architecture:
            stmt = stmt.where(ImageRow.architecture == architecture)
        stmt = stmt.order_by(ImageRow.name, ImageRow.architecture).limit(limit)
        async with self._sessions() as db:
            rows = list((await db.execute(stmt)).scalars())
            return await _with_aliases(db, rows)

    async def get(self, image_id: str) -> Image:
        async with self._sessions() as db:
            row = await db.get(ImageRow, image_id)
            if row is None:
                raise ImageNotFound(f"image {image_id} does not exist")
            return (await _with_aliases(db, [row]))[0]

    async def delete(self, image_id: str) -> None:
        async with self._sessions.begin() as db:
            row = await db.get(ImageRow, image_id)
            if row is None:
                raise ImageNotFound(f"image {image_id} does not exist")
            await db.delete(row)

    async def by_name(self, canonical: str) -> list[Image]:
        if self._reads is not None:
            found = await self._reads.fetch(_BY_NAME, canonical)
            return [image_from_row(cast(ImageRow, Fields(r))) for r in found]
        async with self._sessions() as db:
            rows = await db.execute(
                select(ImageRow).where(ImageRow.name == canonical).order_by(ImageRow.architecture)
            )
            return [image_from_row(r) for r in rows.scalars()]

    async def upsert(self, registry: str, scanned: ScannedImage, now: datetime) -> None:
        values = {
            "id": new_id(),
            "name": scanned.ref.canonical,
            "registry_host": scanned.ref.registry,
            "repository": scanned.ref.repository,
            "tag": scanned.ref.tag,
            "architecture": scanned.architecture,
            "container_registry": registry,
            "config_digest": scanned.config_digest,
            "manifest_digest": scanned.manifest_digest,
            "size_bytes": scanned.size_bytes,
            "labels": dict(scanned.labels),
            "created_at": now,
            "updated_at": now,
        }
        stmt = insert(ImageRow).values(**values)
        stmt = stmt.on_conflict_do_update(
            constraint="uq_images_name_arch",
            set_={k: stmt.excluded[k] for k in values if k not in ("id", "name", "created_at")},
        )
        async with self._sessions.begin() as db:
            await db.execute(stmt)

    async def create_alias(self, alias: str, target: str, now: datetime) -> None:
        try:
            async with self._sessions.begin() as db:
                db.add(ImageAliasRow(alias=alias, target=target, created_at=now))
        except IntegrityError:
            raise ImageAliasExists(f"image alias {alias!r} already exists") from None

    async def list_aliases(self, *, after: str, limit: int) -> list[tuple[str, str]]:
        async with self._sessions() as db:
            rows = await db.execute(
                select(ImageAliasRow.alias, ImageAliasRow.target)
                .where(ImageAliasRow.alias > after)
                .order_by(ImageAliasRow.alias)
                .limit(limit)
            )
            return [(r.alias, r.target) for r in rows]

    async def delete_alias(self, alias: str) -> None:
        async with self._sessions.begin() as db:
            result = await db.execute(delete(ImageAliasRow).where(ImageAliasRow.alias == alias))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise ImageAliasNotFound(f"image alias {alias!r} does not exist")

    async def alias_target(self, alias: str) -> str | None:
        if self._reads is not None:
            found = await self._reads.fetchrow(_ALIAS, alias)
            return None if found is None else str(found["target"])
        async with self._sessions() as db:
            row = await db.get(ImageAliasRow, alias)
            return row.target if row is not None else None

    async def agent_architectures(self, canonical: str) -> list[str]:
        """The architectures of agents that have the image. Asked on every create: each
        architecture is visited through its index (a handful) and stops at its first agent
        with the image, instead of reading every agent's inventory (5,000 agents: 2 ms)."""
        if self._reads is not None:  # the pool's jsonb codec encodes the list itself
            found = await self._reads.fetch(_ARCHITECTURES_WITH, [canonical])
            return [r["a"] for r in found if r["a"]]
        async with self._sessions() as db:
            rows = await db.execute(_ARCHITECTURES_TEXT, {"image": json.dumps([canonical])})
            return [a for a in rows.scalars() if a]


async def _with_aliases(db: AsyncSession, rows: list[ImageRow]) -> list[Image]:
    names = {r.name for r in rows}
    aliases: dict[str, list[str]] = {}
    if names:
        found = await db.execute(
            select(ImageAliasRow.alias, ImageAliasRow.target)
            .where(ImageAliasRow.target.in_(names))
            .order_by(ImageAliasRow.alias)
        )
        for alias, target in found:
            aliases.setdefault(target, []).append(alias)
    return [image_from_row(r, tuple(aliases.get(r.name, ()))) for r in rows]
