"""Keypair administration: issue (secret shown once), list, change, revoke."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from libs.core.access import Resource, Verb
from libs.core.identity import Caller, Role
from services.auth.domain.model import UserStatus, new_keypair
from services.auth.domain.tenancy import DEFAULT_POLICY, KeypairInfo, Page, PageRequest
from services.auth.domain.tenancy_errors import (
    KeypairNotFound,
    KeypairRevoked,
    PolicyNotFound,
    RoleNotGrantable,
    UserDeleted,
    UserNotFound,
)
from services.auth.service.deactivation import Deactivation, Ended
from services.auth.service.scoping import check_mask, restriction, scope, sees_keypair
from services.auth.service.tenancy_ports import (
    Changes,
    KeypairAdminStore,
    Owners,
    PolicyStore,
    UserStore,
)

KEYPAIR_FIELDS = ("is_active", "is_admin", "resource_policy", "rate_limit")
ALL_USERS = "-"


@dataclass(frozen=True, slots=True)
class Keypairs:
    store: KeypairAdminStore
    users: UserStore
    policies: PolicyStore
    deactivation: Deactivation

    async def create(self, caller: Caller, wanted: KeypairInfo) -> tuple[KeypairInfo, str]:
        reach = scope(caller, Resource.KEYPAIR, Verb.CREATE)
        owner = await self.users.get(wanted.user_id)
        probe = KeypairInfo(access_key="", user_id=wanted.user_id)
        if owner is None or not sees_keypair(
            caller, reach, replace(probe, domain_name=owner.domain_name)
        ):
            raise UserNotFound(f"user {wanted.user_id} not found")
        if owner.status is UserStatus.DELETED:
            raise UserDeleted(f"user {wanted.user_id} is deleted")
        if not caller.is_superadmin and owner.role in (Role.SUPERADMIN, Role.MONITOR):
            raise RoleNotGrantable(f"only superadmins may issue keypairs to a {owner.role}")
        policy = wanted.resource_policy or DEFAULT_POLICY
        await self._check_policy(policy)
        fresh = new_keypair()
        created = await self.store.create(
            replace(
                wanted,
                access_key=fresh.access_key,
                resource_policy=policy,
                is_active=True,
                revoked_at=None,
            ),
            fresh.secret_key,
        )
        return created, fresh.secret_key

    async def get(
        self, caller: Caller, user_id: str, access_key: str, verb: Verb = Verb.READ
    ) -> KeypairInfo:
        reach = scope(caller, Resource.KEYPAIR, verb)
        found = await self.store.get(access_key)
        if found is None or found.user_id != user_id or not sees_keypair(caller, reach, found):
            raise KeypairNotFound(
                f"keypair {access_key} of user {user_id} not found",
                metadata={"access_key": access_key},
            )
        return found

    async def list(
        self,
        caller: Caller,
        user_id: str,
        page: PageRequest,
        *,
        is_active: bool | None,
        resource_policy: str,
        show_revoked: bool,
    ) -> Page[KeypairInfo]:
        reach = scope(caller, Resource.KEYPAIR, Verb.READ)
        limit = restriction(caller, reach)
        if user_id != ALL_USERS:
            if limit.user_id not in (None, user_id):
                return Page(items=[])
            limit = replace(limit, user_id=user_id)
        return await self.store.list(
            page,
            limit,
            is_active=is_active,
            resource_policy=resource_policy,
            show_revoked=show_revoked,
        )

    async def update(
        self, caller: Caller, user_id: str, access_key: str, changes: Changes, *, end_sessions: bool
    ) -> tuple[KeypairInfo, Ended]:
        before = await self._changeable(caller, user_id, access_key, Verb.UPDATE)
        check_mask(changes, KEYPAIR_FIELDS)
        if "resource_policy" in changes:
            await self._check_policy(str(changes["resource_policy"]))
        updated = await self.store.update(access_key, changes)
        if updated is None:
            raise KeypairNotFound(f"keypair {access_key} not found")
        if before.is_active and not updated.is_active:
            ended = await self.deactivation.deactivated(
                Owners(access_keys=(access_key,)),
                end_sessions=end_sessions,
                access_keys=[access_key],
            )
            return updated, ended
        await self.deactivation.refresh([access_key])
        return updated, Ended()

    async def revoke(
        self, caller: Caller, user_id: str, access_key: str, *, now: datetime, end_sessions: bool
    ) -> tuple[KeypairInfo, Ended]:
        await self._changeable(caller, user_id, access_key, Verb.DELETE)
        revoked = await self.store.update(access_key, {"is_active": False, "revoked_at": now})
        if revoked is None:
            raise KeypairNotFound(f"keypair {access_key} not found")
        ended = await self.deactivation.deactivated(
            Owners(access_keys=(access_key,)), end_sessions=end_sessions, access_keys=[access_key]
        )
        return revoked, ended

    async def _changeable(
        self, caller: Caller, user_id: str, access_key: str, verb: Verb
    ) -> KeypairInfo:
        found = await self.get(caller, user_id, access_key, verb)
        if found.revoked_at is not None:
            raise KeypairRevoked(f"keypair {access_key} is revoked")
        owner = await self.users.get(user_id)
        if (
            not caller.is_superadmin
            and owner is not None
            and owner.role
            in (
                Role.SUPERADMIN,
                Role.MONITOR,
            )
        ):
            raise RoleNotGrantable(f"only superadmins may change a {owner.role}'s keypairs")
        return found

    async def _check_policy(self, name: str) -> None:
        if await self.policies.get(name) is None:
            raise PolicyNotFound(f"resource policy {name!r} not found", metadata={"name": name})
