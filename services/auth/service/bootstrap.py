"""Bootstrap: the default domain and project, a superadmin, and its keypair.

Idempotent. Several replicas may run it at once: the store serializes transactions, and every
step only creates what is missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from libs.core.identity import Role
from services.auth.domain.errors import BootstrapKeypairConflict, InvalidBootstrapKeypair
from services.auth.domain.model import (
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_DOMAIN,
    DEFAULT_PROJECT,
    DEFAULT_RESOURCE_GROUP,
    Keypair,
    StoredKeypair,
    is_access_key,
    is_secret_key,
    new_keypair,
)
from services.auth.service.ports import BootstrapStore, BootstrapTransaction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapPlan:
    admin_email: str = DEFAULT_ADMIN_EMAIL
    # When given, exactly this keypair is ensured; otherwise one is generated the first time.
    keypair: Keypair | None = None


async def bootstrap(store: BootstrapStore, plan: BootstrapPlan) -> Keypair:
    """Ensure the default tenancy and the superadmin's keypair; return that keypair."""
    if plan.keypair is not None:
        _check(plan.keypair)
    async with store.transaction() as tx:
        await tx.ensure_domain(DEFAULT_DOMAIN)
        # Sessions need an allowed resource group; a fresh install has only the default one.
        await tx.ensure_group_access(
            resource_group=DEFAULT_RESOURCE_GROUP, domain_name=DEFAULT_DOMAIN
        )
        project_id = await tx.ensure_project(domain_name=DEFAULT_DOMAIN, name=DEFAULT_PROJECT)
        user_id = await tx.ensure_user(
            email=plan.admin_email,
            username=plan.admin_email.partition("@")[0] or "admin",
            role=Role.SUPERADMIN,
            domain_name=DEFAULT_DOMAIN,
        )
        await tx.ensure_member(project_id=project_id, user_id=user_id)
        if plan.keypair is not None:
            return await _ensure_given(tx, user_id, plan.keypair)
        return await _ensure_any(tx, user_id)


def _check(keypair: Keypair) -> None:
    if not is_access_key(keypair.access_key):
        raise InvalidBootstrapKeypair(
            "the bootstrap access key must be 'AK' followed by 18 upper-case letters or digits"
        )
    if not is_secret_key(keypair.secret_key):
        raise InvalidBootstrapKeypair("the bootstrap secret key must be 40 printable characters")


async def _ensure_given(tx: BootstrapTransaction, user_id: str, keypair: Keypair) -> Keypair:
    existing = await tx.find_keypair(keypair.access_key)
    if existing is not None and existing.user_id != user_id:
        raise BootstrapKeypairConflict(
            "the bootstrap access key belongs to another user",
            metadata={"access_key": keypair.access_key},
        )
    wanted = StoredKeypair(
        access_key=keypair.access_key,
        secret_key=keypair.secret_key,
        user_id=user_id,
        is_active=True,
        is_admin=True,
    )
    if existing != wanted:
        # Configuration is authoritative: a changed secret or a disabled key is put right.
        await tx.save_keypair(wanted)
        log.info("bootstrap keypair %s ensured", keypair.access_key)
    return keypair


async def _ensure_any(tx: BootstrapTransaction, user_id: str) -> Keypair:
    existing = await tx.find_user_keypair(user_id)
    if existing is not None:
        return Keypair(access_key=existing.access_key, secret_key=existing.secret_key)
    keypair = new_keypair()
    await tx.save_keypair(
        StoredKeypair(
            access_key=keypair.access_key,
            secret_key=keypair.secret_key,
            user_id=user_id,
            is_active=True,
            is_admin=True,
        )
    )
    log.info("bootstrap keypair %s generated", keypair.access_key)
    return keypair
