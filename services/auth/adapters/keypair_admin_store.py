"""Keypairs for administration (never their secrets, which are written encrypted)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.adapters.project_store import as_uuid
from services.auth.adapters.secret_cipher import SecretCipher
from services.auth.adapters.tables import KeypairRow, UserRow
from services.auth.domain.paging import encode_token
from services.auth.domain.tenancy import KeypairInfo, Page, PageRequest
from services.auth.service.tenancy_ports import Changes, Restriction


def _query() -> Select[KeypairRow, str]:
    return select(KeypairRow, UserRow.domain_name).join(UserRow, UserRow.id == KeypairRow.user_id)


def keypair_of(row: KeypairRow, domain_name: str) -> KeypairInfo:
    return KeypairInfo(
        access_key=row.access_key,
        user_id=str(row.user_id),
        is_active=row.is_active,
        is_admin=row.is_admin,
        resource_policy=row.resource_policy,
        rate_limit=row.rate_limit,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        updated_at=row.updated_at,
        revoked_at=row.revoked_at,
        domain_name=domain_name,
    )


class SqlKeypairAdminStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: SecretCipher) -> None:
        self._sessions = sessions
        self._cipher = cipher

    async def create(self, keypair: KeypairInfo, secret_key: str) -> KeypairInfo:
        async with self._sessions.begin() as db:
            db.add(
                KeypairRow(
                    access_key=keypair.access_key,
                    secret_key=self._cipher.encrypt(keypair.access_key, secret_key),
                    user_id=uuid.UUID(keypair.user_id),
                    is_active=keypair.is_active,
                    is_admin=keypair.is_admin,
                    resource_policy=keypair.resource_policy,
                    rate_limit=keypair.rate_limit,
                )
            )
        found = await self.get(keypair.access_key)
        assert found is not None
        return found

    async def get(self, access_key: str) -> KeypairInfo | None:
        async with self._sessions() as db:
            row = (
                await db.execute(_query().where(KeypairRow.access_key == access_key))
            ).one_or_none()
        return None if row is None else keypair_of(row[0], row[1])

    async def list(
        self,
        page: PageRequest,
        restriction: Restriction,
        *,
        is_active: bool | None,
        resource_policy: str,
        show_revoked: bool,
    ) -> Page[KeypairInfo]:
        query = _query().order_by(KeypairRow.access_key).limit(page.size + 1)
        if page.after:
            query = query.where(KeypairRow.access_key > page.after)
        if restriction.domain_name is not None:
            query = query.where(UserRow.domain_name == restriction.domain_name)
        if restriction.user_id is not None:
            query = query.where(KeypairRow.user_id == as_uuid(restriction.user_id))
        if is_active is not None:
            query = query.where(KeypairRow.is_active.is_(is_active))
        if resource_policy:
            query = query.where(KeypairRow.resource_policy == resource_policy)
        if not show_revoked:
            query = query.where(KeypairRow.revoked_at.is_(None))
        async with self._sessions() as db:
            rows = (await db.execute(query)).all()
        items = [keypair_of(r[0], r[1]) for r in rows[: page.size]]
        more = len(rows) > page.size
        return Page(items=items, next_token=encode_token(items[-1].access_key) if more else "")

    async def update(self, access_key: str, changes: Changes) -> KeypairInfo | None:
        async with self._sessions.begin() as db:
            row = await db.get(KeypairRow, access_key, with_for_update=True)
            if row is None:
                return None
            values: dict[str, Any] = dict(changes)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = func.now()
        return await self.get(access_key)

    async def access_keys_of(self, user_id: str) -> tuple[str, ...]:
        async with self._sessions() as db:
            keys = await db.scalars(
                select(KeypairRow.access_key).where(KeypairRow.user_id == as_uuid(user_id))
            )
            return tuple(keys.all())

    async def main_keypair(self, user_id: str) -> KeypairInfo | None:
        """The oldest active keypair, admin keypairs first (Backend.AI's choice at login)."""
        query = (
            _query()
            .where(
                KeypairRow.user_id == as_uuid(user_id),
                KeypairRow.is_active.is_(True),
                KeypairRow.revoked_at.is_(None),
            )
            .order_by(KeypairRow.is_admin.desc(), KeypairRow.created_at, KeypairRow.access_key)
            .limit(1)
        )
        async with self._sessions() as db:
            row = (await db.execute(query)).one_or_none()
        return None if row is None else keypair_of(row[0], row[1])
