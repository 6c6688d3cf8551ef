"""Wiring of the tenancy admin APIs, the policy service, the audit log and revocation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis
from shipyard.auth.v1 import (
    audit_service_pb2_grpc,
    domain_service_pb2_grpc,
    keypair_service_pb2_grpc,
    policy_service_pb2_grpc,
    project_service_pb2_grpc,
    resource_group_access_service_pb2_grpc,
    resource_policy_service_pb2_grpc,
    user_service_pb2_grpc,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.grpcutil.server import Registration
from services.auth.adapters.access_store import SqlAccessStore
from services.auth.adapters.audit_store import SqlAuditStore
from services.auth.adapters.domain_store import SqlDomainStore
from services.auth.adapters.keypair_admin_store import SqlKeypairAdminStore
from services.auth.adapters.keypair_cache import CachedKeypairStore
from services.auth.adapters.passwords import Argon2Passwords
from services.auth.adapters.policy_facts import SqlPolicyFacts
from services.auth.adapters.policy_store import SqlPolicyStore
from services.auth.adapters.project_store import SqlProjectStore
from services.auth.adapters.registry_sessions import GrpcSessionTerminator
from services.auth.adapters.revocation import RedisRevocations
from services.auth.adapters.secret_cipher import SecretCipher, derive_key, parse_key
from services.auth.adapters.user_lookup import SqlUserLookup
from services.auth.adapters.user_store import SqlUserStore
from services.auth.api.account_servicers import KeypairServicer, UserServicer
from services.auth.api.audit_servicers import AuditRecordServicer, AuditServicer
from services.auth.api.policy_servicers import (
    PolicyServicer,
    ResourceGroupAccessServicer,
    ResourcePolicyServicer,
)
from services.auth.api.tenant_servicers import DomainServicer, ProjectServicer
from services.auth.config import BootstrapSettings, Settings
from services.auth.domain.errors import InvalidBootstrapKeypair
from services.auth.service.audit import AuditLog
from services.auth.service.deactivation import Deactivation
from services.auth.service.domains import Domains
from services.auth.service.keypairs import Keypairs
from services.auth.service.policies import AccessLists, Policies
from services.auth.service.policy_resolver import PolicyResolver
from services.auth.service.projects import Projects
from services.auth.service.users import Users

log = logging.getLogger(__name__)


def secret_cipher(settings: BootstrapSettings, internal_token: str = "") -> SecretCipher:
    """The deployment key's cipher: the configured key, else one derived from the token."""
    configured = settings.secret_key_encryption_key
    if configured is not None:
        try:
            return SecretCipher(parse_key(configured.get_secret_value()))
        except ValueError as exc:
            raise InvalidBootstrapKeypair(f"AUTH_SECRET_KEY_ENCRYPTION_KEY: {exc}") from exc
    if not internal_token:
        raise InvalidBootstrapKeypair(
            "set AUTH_SECRET_KEY_ENCRYPTION_KEY: keypair secrets are encrypted at rest"
        )
    log.warning("AUTH_SECRET_KEY_ENCRYPTION_KEY is unset; deriving it from the internal token")
    return SecretCipher(derive_key(internal_token))


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Tenancy:
    """The running tenancy parts: servicers to register and what must be stopped."""

    registrations: list[Registration]
    audit: AuditLog
    revocations: RedisRevocations
    redis: Redis
    terminator: GrpcSessionTerminator
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self.tasks.append(asyncio.create_task(self.revocations.run(), name="auth-revocations"))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=3.0)
        await self.terminator.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), 2.0)


def build_tenancy(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    cipher: SecretCipher,
    cache: CachedKeypairStore,
) -> Tenancy:
    token = settings.internal_token.get_secret_value()
    redis = Redis.from_url(settings.redis_url)
    revocations = RedisRevocations(redis, settings.redis_prefix, cache)
    terminator = GrpcSessionTerminator(settings.registry_addr, token, settings.mtls())
    deactivation = Deactivation(revocations, terminator)
    domains, projects = SqlDomainStore(sessions), SqlProjectStore(sessions)
    users, keypairs = SqlUserStore(sessions), SqlKeypairAdminStore(sessions, cipher)
    policies, access = SqlPolicyStore(sessions), SqlAccessStore(sessions)
    audit = AuditLog(SqlAuditStore(sessions), _utc_now)
    uc_users = Users(users, domains, projects, keypairs, Argon2Passwords(), deactivation)
    resolver = PolicyResolver(keypairs, domains, projects, policies, SqlPolicyFacts(sessions))

    def reg(add: object, servicer: object, name: str) -> Registration:
        return Registration(add, servicer, f"shipyard.auth.v1.{name}")  # type: ignore[arg-type]

    registrations = [
        reg(
            domain_service_pb2_grpc.add_DomainServiceServicer_to_server,
            DomainServicer(Domains(domains, deactivation), audit, _utc_now),
            "DomainService",
        ),
        reg(
            project_service_pb2_grpc.add_ProjectServiceServicer_to_server,
            ProjectServicer(
                Projects(projects, domains, users, keypairs, deactivation), audit, _utc_now
            ),
            "ProjectService",
        ),
        reg(
            user_service_pb2_grpc.add_UserServiceServicer_to_server,
            UserServicer(uc_users, audit, _utc_now),
            "UserService",
        ),
        reg(
            keypair_service_pb2_grpc.add_KeypairServiceServicer_to_server,
            KeypairServicer(Keypairs(keypairs, users, policies, deactivation), audit, _utc_now),
            "KeypairService",
        ),
        reg(
            resource_policy_service_pb2_grpc.add_ResourcePolicyServiceServicer_to_server,
            ResourcePolicyServicer(Policies(policies), audit),
            "ResourcePolicyService",
        ),
        reg(
            resource_group_access_service_pb2_grpc.add_ResourceGroupAccessServiceServicer_to_server,
            ResourceGroupAccessServicer(AccessLists(access, projects), audit),
            "ResourceGroupAccessService",
        ),
        reg(
            audit_service_pb2_grpc.add_AuditServiceServicer_to_server,
            AuditServicer(audit),
            "AuditService",
        ),
        reg(
            audit_service_pb2_grpc.add_AuditRecordServiceServicer_to_server,
            AuditRecordServicer(audit),
            "AuditRecordService",
        ),
        reg(
            policy_service_pb2_grpc.add_PolicyServiceServicer_to_server,
            PolicyServicer(resolver, SqlUserLookup(sessions)),
            "PolicyService",
        ),
    ]
    return Tenancy(registrations, audit, revocations, redis, terminator)
