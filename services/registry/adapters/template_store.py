"""Session templates in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.template_tables import SessionTemplateRow
from services.registry.domain.cluster import ClusterMode
from services.registry.domain.model import SessionType
from services.registry.domain.templates import (
    SessionTemplate,
    TemplateDocument,
    TemplateExists,
    TemplateKind,
    TemplateSpec,
)
from services.registry.service.session_templates import TemplateFilter


def spec_to_json(spec: TemplateSpec) -> dict[str, Any]:
    return {
        "session_type": spec.session_type.value if spec.session_type else None,
        "image": spec.image,
        "resources": dict(spec.resources),
        "mounts": list(spec.mounts),
        "environ": dict(spec.environ),
        "startup_command": spec.startup_command,
        "resource_group": spec.resource_group,
        "cluster_size": spec.cluster_size,
        "cluster_mode": spec.cluster_mode.value if spec.cluster_mode else None,
    }


def spec_from_json(raw: dict[str, Any]) -> TemplateSpec:
    return TemplateSpec(
        session_type=SessionType(raw["session_type"]) if raw.get("session_type") else None,
        image=raw.get("image", ""),
        resources=dict(raw.get("resources", {})),
        mounts=tuple(raw.get("mounts", ())),
        environ=dict(raw.get("environ", {})),
        startup_command=raw.get("startup_command", ""),
        resource_group=raw.get("resource_group", ""),
        cluster_size=int(raw.get("cluster_size", 0)),
        cluster_mode=ClusterMode(raw["cluster_mode"]) if raw.get("cluster_mode") else None,
    )


def _from_row(row: SessionTemplateRow) -> SessionTemplate:
    return SessionTemplate(
        id=row.id,
        name=row.name,
        kind=TemplateKind(row.kind),
        owner_user_id=row.owner_user_id,
        project_id=row.project_id,
        domain_name=row.domain_name,
        spec=spec_from_json(row.spec),
        payload=row.payload,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlTemplateStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, template: SessionTemplate) -> SessionTemplate:
        """The template stored, or (a retry) the same owner's identical one; TemplateExists
        for a different template of that name."""
        t = SessionTemplateRow
        try:
            async with self._sessions.begin() as db:
                await self._insert(db, template)
            return template
        except IntegrityError:
            pass
        async with self._sessions() as db:
            same = (
                await db.execute(
                    select(t).where(
                        t.owner_user_id == template.owner_user_id,
                        t.project_id == template.project_id,
                        t.name == template.name,
                    )
                )
            ).scalar_one_or_none()
        if same is not None and same.payload == template.payload:
            return _from_row(same)
        raise TemplateExists.named(template.name)

    async def _insert(self, db: AsyncSession, template: SessionTemplate) -> None:
        db.add(
            SessionTemplateRow(
                id=template.id,
                name=template.name,
                kind=template.kind.value,
                owner_user_id=template.owner_user_id,
                project_id=template.project_id,
                domain_name=template.domain_name,
                spec=spec_to_json(template.spec),
                payload=template.payload,
                created_at=template.created_at,
                updated_at=template.updated_at,
            )
        )

    async def get(self, template_id: str) -> SessionTemplate | None:
        async with self._sessions() as db:
            row = await db.get(SessionTemplateRow, template_id)
            return _from_row(row) if row is not None else None

    async def list(
        self, where: TemplateFilter, limit: int, before: tuple[datetime, str] | None
    ) -> list[SessionTemplate]:
        """Newest first, keyset-paginated on (created_at, id)."""
        t = SessionTemplateRow
        stmt = select(t).order_by(t.created_at.desc(), t.id.desc()).limit(limit)
        if before is not None:
            stmt = stmt.where(tuple_(t.created_at, t.id) < before)
        if where.only_project:
            stmt = stmt.where(t.project_id == where.only_project)
        if not where.everything:
            mine = [t.owner_user_id == where.user_id]
            if where.project_ids:
                mine.append(t.project_id.in_(where.project_ids))
            if where.domain_name:
                mine.append(t.domain_name == where.domain_name)
            stmt = stmt.where(or_(*mine))
        async with self._sessions() as db:
            return [_from_row(r) for r in (await db.execute(stmt)).scalars()]

    async def replace(
        self, template_id: str, document: TemplateDocument, payload: str, now: datetime
    ) -> SessionTemplate | None:
        try:
            return await self._replace(template_id, document, payload, now)
        except IntegrityError:
            raise TemplateExists.named(document.name) from None

    async def _replace(
        self, template_id: str, document: TemplateDocument, payload: str, now: datetime
    ) -> SessionTemplate | None:
        async with self._sessions.begin() as db:
            row = await db.get(SessionTemplateRow, template_id, with_for_update=True)
            if row is None:
                return None
            row.name = document.name
            row.kind = document.kind.value
            row.spec = spec_to_json(document.spec)
            row.payload = payload
            row.updated_at = now
            await db.flush()
            return _from_row(row)

    async def delete(self, template_id: str) -> bool:
        async with self._sessions.begin() as db:
            result = await db.execute(
                delete(SessionTemplateRow).where(SessionTemplateRow.id == template_id)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]
