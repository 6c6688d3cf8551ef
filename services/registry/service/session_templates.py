"""Session templates: create from a YAML/JSON document, read, update, delete, and resolve one
for CreateSession. Who may do what (docs/templates-and-presets.md): anyone reads and uses their
own templates and their projects' templates; only the creator (or an admin of the domain)
changes or deletes one; only members give a template to a project."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import yaml

from libs.core.access import Resource, Scope, Verb, in_scope, scope_of
from libs.core.errors import FieldViolation, PermissionDenied
from libs.core.identity import Caller
from libs.core.ids import is_uuid, new_id
from services.registry.domain.templates import (
    InvalidTemplate,
    SessionTemplate,
    TemplateDocument,
    TemplateNotFound,
    parse_document,
)
from services.registry.service.pages import limit_for


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateFilter:
    """Which templates a listing returns: all, a domain's, or a user's own plus projects'."""

    everything: bool = False
    domain_name: str = ""
    user_id: str = ""
    project_ids: tuple[str, ...] = ()
    only_project: str = ""


class TemplateStore(Protocol):
    async def add(self, template: SessionTemplate) -> SessionTemplate: ...
    async def get(self, template_id: str) -> SessionTemplate | None: ...
    async def list(
        self, where: TemplateFilter, limit: int, before: tuple[datetime, str] | None
    ) -> list[SessionTemplate]: ...
    async def replace(
        self, template_id: str, document: TemplateDocument, payload: str, now: datetime
    ) -> SessionTemplate | None: ...
    async def delete(self, template_id: str) -> bool: ...


class NotTemplateOwner(PermissionDenied):
    reason = "NOT_TEMPLATE_OWNER"


def load_document(payload: str, *, where: str = "payload") -> TemplateDocument:
    """Parse YAML (JSON is YAML too) and check it; errors name the key."""
    try:
        doc = yaml.safe_load(payload)
    except RecursionError:
        raise InvalidTemplate(
            f"{where} is nested too deeply",
            violations=[FieldViolation(where, "nested too deeply")],
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InvalidTemplate(
            f"{where} is neither YAML nor JSON{at}",
            violations=[FieldViolation(where, f"not valid YAML or JSON{at}")],
        ) from None
    return parse_document(doc, where=where)


class SessionTemplates:
    def __init__(self, store: TemplateStore) -> None:
        self._store = store

    async def create(self, caller: Caller, payload: str, project_id: str) -> SessionTemplate:
        document = load_document(payload)
        if project_id and not (
            caller.system
            or scope_of(caller, Resource.SESSION_TEMPLATE, Verb.CREATE) is Scope.ALL
            or (is_uuid(project_id) and project_id in caller.project_ids)
        ):
            raise NotTemplateOwner(
                "only members may give a template to a project",
                violations=[FieldViolation("project_id", "you are not a member of it")],
            )
        now = datetime.now(UTC)
        template = SessionTemplate(
            id=new_id(),
            name=document.name,
            kind=document.kind,
            owner_user_id=caller.user_id,
            project_id=project_id,
            domain_name=caller.domain_name,
            spec=document.spec,
            payload=payload,
            created_at=now,
            updated_at=now,
        )
        return await self._store.add(template)

    async def get(self, caller: Caller, template_id: str) -> SessionTemplate:
        """A template the caller may read and use; TemplateNotFound otherwise (no leak)."""
        template = await self._store.get(template_id) if is_uuid(template_id) else None
        scope = scope_of(caller, Resource.SESSION_TEMPLATE, Verb.READ)
        if template is None or not _visible(caller, scope, template):
            raise TemplateNotFound.of(template_id)
        return template

    async def list(
        self,
        caller: Caller,
        project_id: str,
        *,
        page_size: int = 0,
        before: tuple[datetime, str] | None = None,
    ) -> tuple[list[SessionTemplate], tuple[datetime, str] | None]:
        """One page of the templates the caller may read, newest first, and the cursor of the
        next page (None on the last)."""
        scope = scope_of(caller, Resource.SESSION_TEMPLATE, Verb.READ)
        where = TemplateFilter(
            everything=scope is Scope.ALL,
            domain_name=caller.domain_name if scope is Scope.DOMAIN else "",
            user_id=caller.user_id,
            project_ids=tuple(caller.project_ids),
            only_project=project_id,
        )
        limit = limit_for(page_size)
        rows = await self._store.list(where, limit + 1, before)
        page = rows[:limit]
        cursor = (page[-1].created_at, page[-1].id) if len(rows) > limit and page else None
        return page, cursor

    async def update(self, caller: Caller, template_id: str, payload: str) -> SessionTemplate:
        await self._writable(caller, template_id, Verb.UPDATE)
        document = load_document(payload)
        updated = await self._store.replace(template_id, document, payload, datetime.now(UTC))
        if updated is None:
            raise TemplateNotFound.of(template_id)
        return updated

    async def delete(self, caller: Caller, template_id: str) -> None:
        await self._writable(caller, template_id, Verb.DELETE)
        if not await self._store.delete(template_id):
            raise TemplateNotFound.of(template_id)

    async def _writable(self, caller: Caller, template_id: str, verb: Verb) -> None:
        template = await self.get(caller, template_id)
        scope = scope_of(caller, Resource.SESSION_TEMPLATE, verb)
        # Project members use a project template; only its creator (or admins) change it.
        if not in_scope(
            caller,
            scope,
            owner_user_id=template.owner_user_id,
            domain_name=template.domain_name,
        ):
            raise NotTemplateOwner(
                f"only the creator of template {template_id} or an admin may {verb.value} it"
            )


def _visible(caller: Caller, scope: Scope, template: SessionTemplate) -> bool:
    return in_scope(
        caller,
        scope,
        owner_user_id=template.owner_user_id,
        domain_name=template.domain_name,
        project_id=template.project_id,
    )
