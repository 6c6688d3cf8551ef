"""The bootstrap's transaction: insert-if-missing statements under one advisory lock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.identity import Role
from services.auth.adapters.secret_cipher import SecretCipher, is_encrypted
from services.auth.adapters.tables import (
    DomainRow,
    KeypairRow,
    ProjectMemberRow,
    ProjectRow,
    ResourceGroupDomainRow,
    UserRow,
)
from services.auth.domain.model import StoredKeypair, UserStatus

# Two replicas starting together would otherwise both see "no keypair" and both generate one.
_LOCK_SQL = text("SELECT pg_advisory_xact_lock(hashtext('shipyard.auth.bootstrap'))")


class SqlBootstrapStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: SecretCipher) -> None:
        self._sessions = sessions
        self._cipher = cipher

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlBootstrapTransaction]:
        async with self._sessions() as session, session.begin():
            await session.execute(_LOCK_SQL)
            yield SqlBootstrapTransaction(session, self._cipher)

    async def encrypt_plaintext_secrets(self) -> int:
        """Encrypt secrets stored before encryption at rest; returns how many were."""
        async with self._sessions() as session, session.begin():
            await session.execute(_LOCK_SQL)
            rows = (
                await session.execute(select(KeypairRow.access_key, KeypairRow.secret_key))
            ).all()
            plain = [(key, secret) for key, secret in rows if not is_encrypted(secret)]
            for key, secret in plain:
                await session.execute(
                    update(KeypairRow)
                    .where(KeypairRow.access_key == key)
                    .values(secret_key=self._cipher.encrypt(key, secret))
                )
        return len(plain)


class SqlBootstrapTransaction:
    def __init__(self, session: AsyncSession, cipher: SecretCipher) -> None:
        self._session = session
        self._cipher = cipher

    async def ensure_domain(self, name: str) -> None:
        await self._session.execute(
            insert(DomainRow).values(name=name).on_conflict_do_nothing(index_elements=["name"])
        )

    async def ensure_group_access(self, *, resource_group: str, domain_name: str) -> None:
        await self._session.execute(
            insert(ResourceGroupDomainRow)
            .values(resource_group=resource_group, domain_name=domain_name)
            .on_conflict_do_nothing()
        )

    async def ensure_project(self, *, domain_name: str, name: str) -> str:
        await self._session.execute(
            insert(ProjectRow)
            .values(id=uuid.uuid4(), domain_name=domain_name, name=name)
            .on_conflict_do_nothing(constraint="uq_projects_domain_name")
        )
        project_id = await self._session.scalar(
            select(ProjectRow.id).where(
                ProjectRow.domain_name == domain_name, ProjectRow.name == name
            )
        )
        return str(project_id)

    async def ensure_user(self, *, email: str, username: str, role: Role, domain_name: str) -> str:
        await self._session.execute(
            insert(UserRow)
            .values(
                id=uuid.uuid4(),
                email=email,
                username=username,
                role=role,
                status=UserStatus.ACTIVE,
                domain_name=domain_name,
            )
            .on_conflict_do_nothing(index_elements=["email"])
        )
        user_id = await self._session.scalar(select(UserRow.id).where(UserRow.email == email))
        return str(user_id)

    async def ensure_member(self, *, project_id: str, user_id: str) -> None:
        await self._session.execute(
            insert(ProjectMemberRow)
            .values(project_id=uuid.UUID(project_id), user_id=uuid.UUID(user_id))
            .on_conflict_do_nothing()
        )

    async def find_keypair(self, access_key: str) -> StoredKeypair | None:
        row = await self._session.get(KeypairRow, access_key)
        return None if row is None else self._stored(row)

    async def find_user_keypair(self, user_id: str) -> StoredKeypair | None:
        row = await self._session.scalar(
            select(KeypairRow)
            .where(
                KeypairRow.user_id == uuid.UUID(user_id),
                KeypairRow.is_active.is_(True),
                KeypairRow.is_admin.is_(True),
            )
            .order_by(KeypairRow.created_at, KeypairRow.access_key)
            .limit(1)
        )
        return None if row is None else self._stored(row)

    async def save_keypair(self, keypair: StoredKeypair) -> None:
        values = {
            "secret_key": self._cipher.encrypt(keypair.access_key, keypair.secret_key),
            "revoked_at": None,
            "user_id": uuid.UUID(keypair.user_id),
            "is_active": keypair.is_active,
            "is_admin": keypair.is_admin,
        }
        await self._session.execute(
            insert(KeypairRow)
            .values(access_key=keypair.access_key, **values)
            .on_conflict_do_update(index_elements=["access_key"], set_=values)
        )

    def _stored(self, row: KeypairRow) -> StoredKeypair:
        return StoredKeypair(
            access_key=row.access_key,
            secret_key=self._cipher.decrypt(row.access_key, row.secret_key),
            user_id=str(row.user_id),
            is_active=row.is_active and row.revoked_at is None,
            is_admin=row.is_admin,
        )
