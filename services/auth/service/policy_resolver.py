"""The registry's and scheduler's questions: may this user start a session there, and limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from libs.core.slots import ResourceSlots
from services.auth.domain.model import UserStatus
from services.auth.domain.tenancy import ResourcePolicy
from services.auth.domain.tenancy_errors import KeypairNotFound, UserNotFound
from services.auth.service.tenancy_ports import (
    DomainStore,
    KeypairAdminStore,
    PolicyFactsStore,
    PolicyStore,
    ProjectStore,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPolicy:
    user_active: bool
    keypair_active: bool
    domain_active: bool
    project_active: bool
    project_member: bool
    resource_group_allowed: bool
    allowed_resource_groups: tuple[str, ...]
    access_key: str
    keypair_policy: ResourcePolicy
    project_slots: ResourceSlots
    domain_slots: ResourceSlots
    user_created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    keypair_policies: dict[str, ResourcePolicy] = field(default_factory=dict)
    project_slots: dict[str, ResourceSlots] = field(default_factory=dict)
    domain_slots: dict[str, ResourceSlots] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PolicyResolver:
    keypairs: KeypairAdminStore
    domains: DomainStore
    projects: ProjectStore
    policies: PolicyStore
    facts: PolicyFactsStore

    async def resolve(
        self,
        *,
        user_id: str,
        access_key: str,
        domain_name: str,
        project_id: str,
        resource_group: str,
    ) -> SessionPolicy:
        facts = await self.facts.read(
            user_id=user_id, access_key=access_key, domain_name=domain_name, project_id=project_id
        )
        if facts is None:
            raise UserNotFound(f"user {user_id} not found")
        user, keypair, domain, project = facts.user, facts.keypair, facts.domain, facts.project
        if keypair is None or keypair.user_id != user_id:
            raise KeypairNotFound(f"no keypair {access_key or '(main)'} of user {user_id}")
        in_domain = project is not None and project.domain_name == domain_name
        member = in_domain and project_id in user.project_ids
        # Only what the user really belongs to opens a group: a project they are not a member
        # of, or a domain that is not theirs (or is inactive), opens none.
        opened = set(facts.keypair_groups)
        if user.domain_name == domain_name and domain is not None and domain.is_active:
            opened.update(facts.domain_groups)
        if member:
            opened.update(facts.project_groups)
        groups = sorted(opened)
        return SessionPolicy(
            user_active=user.status is UserStatus.ACTIVE,
            keypair_active=keypair.is_active and keypair.revoked_at is None,
            domain_active=domain is not None
            and domain.is_active
            and domain.deleted_at is None
            and user.domain_name == domain_name,
            project_active=in_domain and project is not None and project.is_active,
            project_member=member,
            resource_group_allowed=not resource_group or resource_group in groups,
            allowed_resource_groups=tuple(groups),
            access_key=keypair.access_key,
            keypair_policy=facts.policy or ResourcePolicy(name=keypair.resource_policy),
            project_slots=project.total_resource_slots if project else ResourceSlots(),
            domain_slots=domain.total_resource_slots if domain else ResourceSlots(),
            user_created_at=user.created_at,
        )

    async def batch(
        self, access_keys: Sequence[str], project_ids: Sequence[str], domain_names: Sequence[str]
    ) -> Limits:
        limits = Limits()
        names: dict[str, str] = {}
        for key in dict.fromkeys(access_keys):
            found = await self.keypairs.get(key)
            if found is not None:
                names[key] = found.resource_policy
        policies = await self.policies.get_many(sorted(set(names.values())))
        for key, name in names.items():
            limits.keypair_policies[key] = policies.get(name) or ResourcePolicy(name=name)
        for project_id in dict.fromkeys(project_ids):
            project = await self.projects.get(project_id)
            if project is not None:
                limits.project_slots[project_id] = project.total_resource_slots
        for name in dict.fromkeys(domain_names):
            domain = await self.domains.get(name)
            if domain is not None:
                limits.domain_slots[name] = domain.total_resource_slots
        return limits
