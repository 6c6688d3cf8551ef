"""ResolveSessionPolicy's rows in one statement: every CreateSession asks, so one round trip
instead of a transaction per user, keypair, domain, project, policy and group access."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from services.auth.adapters.domain_store import domain_of
from services.auth.adapters.keypair_admin_store import keypair_of
from services.auth.adapters.policy_store import policy_of
from services.auth.adapters.project_store import as_uuid, project_of
from services.auth.adapters.tables import (
    DomainRow,
    KeypairRow,
    ProjectRow,
    ResourceGroupDomainRow,
    ResourceGroupKeypairRow,
    ResourceGroupProjectRow,
    ResourcePolicyRow,
    UserRow,
)
from services.auth.adapters.user_store import user_of, user_projects
from services.auth.service.tenancy_ports import PolicyFacts

_D, _P, _K = ResourceGroupDomainRow, ResourceGroupProjectRow, ResourceGroupKeypairRow


class SqlPolicyFacts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def read(
        self, *, user_id: str, access_key: str, domain_name: str, project_id: str
    ) -> PolicyFacts | None:
        user_key = as_uuid(user_id)
        if user_key is None:
            return None
        query = _BY_KEY if access_key else _BY_MAIN_KEY
        params = {
            "user_id": user_key,
            "access_key": access_key,
            "domain_name": domain_name,
            "project_id": as_uuid(project_id),  # None (no such project) matches no row
        }
        async with self._sessions() as db:
            row = (await db.execute(query, params)).one_or_none()
        if row is None:
            return None
        user, projects, keypair, domain, project, policy, by_domain, by_project, by_key = row
        return PolicyFacts(
            user=user_of(user, projects),
            # The keypair's owner domain is the user's whenever the resolver uses it (its owner).
            keypair=None if keypair is None else keypair_of(keypair, user.domain_name),
            domain=None if domain is None else domain_of(domain),
            project=None if project is None else project_of(project),
            policy=None if policy is None else policy_of(policy),
            domain_groups=tuple(by_domain or ()),
            project_groups=tuple(by_project or ()),
            keypair_groups=tuple(by_key or ()),
        )


def _main_keypair() -> Any:
    """The user's main keypair (as SqlKeypairAdminStore.main_keypair)."""
    key = aliased(KeypairRow)  # not the outer query's keypair row
    return (
        select(key.access_key)
        .where(
            key.user_id == bindparam("user_id", type_=KeypairRow.user_id.type),
            key.is_active.is_(True),
            key.revoked_at.is_(None),
        )
        .order_by(key.is_admin.desc(), key.created_at, key.access_key)
        .limit(1)
        .scalar_subquery()
    )


def _groups(group: Any, where: ColumnElement[bool]) -> Any:
    return select(func.array_agg(group)).where(where).scalar_subquery()


def _statement(keypair: Any) -> Any:
    """Built once (bound parameters): constructing it took as long as running it."""
    domain = bindparam("domain_name", type_=DomainRow.name.type)
    project = bindparam("project_id", type_=ProjectRow.id.type)
    return (
        select(
            UserRow,
            user_projects(),
            KeypairRow,
            DomainRow,
            ProjectRow,
            ResourcePolicyRow,
            _groups(_D.resource_group, _D.domain_name == domain),
            _groups(_P.resource_group, _P.project_id == project),
            _groups(_K.resource_group, _K.access_key == KeypairRow.access_key),
        )
        .select_from(UserRow)
        .outerjoin(KeypairRow, KeypairRow.access_key == keypair)
        .outerjoin(DomainRow, DomainRow.name == domain)
        .outerjoin(ProjectRow, ProjectRow.id == project)
        .outerjoin(ResourcePolicyRow, ResourcePolicyRow.name == KeypairRow.resource_policy)
        .where(UserRow.id == bindparam("user_id", type_=UserRow.id.type))
    )


_BY_KEY = _statement(bindparam("access_key", type_=KeypairRow.access_key.type))
_BY_MAIN_KEY = _statement(_main_keypair())
