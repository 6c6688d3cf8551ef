"""Fakes of auth's ports and helpers to build signed requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from libs.core.identity import Role
from libs.core.signing import authorization_header, sign
from services.auth.domain.model import GateOutcome, KeypairOwner, StoredKeypair, UserStatus
from services.auth.service.verify import RequestFacts

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HOST = "127.0.0.1:8090"
DATE_TEXT = "2023-08-01T12:34:56.123456+00:00"
DATE = datetime.fromisoformat(DATE_TEXT)
USER_ID = "6f1a4b1e-2d0c-4c55-9d1e-0a7b3c2d1e0f"
PROJECT_ID = "0c3a9e8d-1b2f-4e6a-8c7d-5f4e3d2c1b0a"


def owner(**changes: Any) -> KeypairOwner:
    base = KeypairOwner(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        keypair_active=True,
        user_id=USER_ID,
        user_status=UserStatus.ACTIVE,
        role=Role.USER,
        domain_name="default",
        email="user@example.com",
        project_ids=(PROJECT_ID,),
        rate_limit=100,
    )
    return replace(base, **changes)


class FakeKeypairStore:
    def __init__(self, *owners: KeypairOwner) -> None:
        self.owners = {o.access_key: o for o in owners}
        self.lookups: list[str] = []

    async def find(self, access_key: str) -> KeypairOwner | None:
        self.lookups.append(access_key)
        return self.owners.get(access_key)


class FakeUsageRecorder:
    def __init__(self) -> None:
        self.touched: list[tuple[str, datetime]] = []

    def touch(self, access_key: str, at: datetime) -> None:
        self.touched.append((access_key, at))


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeBootstrapTransaction:
    """An in-memory tenancy, enough for the bootstrap use case."""

    def __init__(self) -> None:
        self.domains: set[str] = set()
        self.projects: dict[tuple[str, str], str] = {}
        self.users: dict[str, tuple[str, Role]] = {}  # email → (id, role)
        self.members: set[tuple[str, str]] = set()
        self.group_access: set[tuple[str, str]] = set()
        self.keypairs: dict[str, StoredKeypair] = {}
        self.saves = 0

    async def ensure_domain(self, name: str) -> None:
        self.domains.add(name)

    async def ensure_group_access(self, *, resource_group: str, domain_name: str) -> None:
        self.group_access.add((resource_group, domain_name))

    async def ensure_project(self, *, domain_name: str, name: str) -> str:
        return self.projects.setdefault((domain_name, name), f"project-{len(self.projects)}")

    async def ensure_user(self, *, email: str, username: str, role: Role, domain_name: str) -> str:
        return self.users.setdefault(email, (f"user-{len(self.users)}", role))[0]

    async def ensure_member(self, *, project_id: str, user_id: str) -> None:
        self.members.add((project_id, user_id))

    async def find_keypair(self, access_key: str) -> StoredKeypair | None:
        return self.keypairs.get(access_key)

    async def find_user_keypair(self, user_id: str) -> StoredKeypair | None:
        return next(
            (
                k
                for k in self.keypairs.values()
                if k.user_id == user_id and k.is_active and k.is_admin
            ),
            None,
        )

    async def save_keypair(self, keypair: StoredKeypair) -> None:
        self.saves += 1
        self.keypairs[keypair.access_key] = keypair


class FakeBootstrapStore:
    def __init__(self) -> None:
        self.tx = FakeBootstrapTransaction()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeBootstrapTransaction]:
        yield self.tx


def signed_facts(
    *,
    method: str = "GET",
    path: str = "/v1/identity",
    host: str = HOST,
    content_type: str | None = "application/json",
    date: datetime = DATE,
    version: str = "v7.20230615",
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    prefix: str = "backendai",
) -> RequestFacts:
    """A request signed the way the Backend.AI client signs it."""
    signature = sign(
        secret_key=secret_key,
        method=method,
        rel_url=path,
        date=date,
        host=host,
        content_type=content_type or "application/octet-stream",
        api_version=version,
        header_prefix=prefix,
    )
    headers = {
        "authorization": authorization_header(access_key, signature),
        "date": date.isoformat(),
        f"x-{prefix}-version": version,
    }
    if content_type is not None:
        headers["content-type"] = content_type
    return RequestFacts(method=method, path=path, host=host, headers=headers)


class FakeRequestGate:
    """An in-memory gate: remembers signatures forever and counts per key (no window)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.counts: dict[str, int] = {}
        self.calls: list[dict[str, Any]] = []

    async def admit(
        self,
        *,
        access_key: str,
        signature: str,
        replay_ttl: float,
        limit: int,
        window: float,
        now: datetime,
    ) -> GateOutcome:
        self.calls.append({"access_key": access_key, "replay_ttl": replay_ttl, "limit": limit})
        if signature in self.seen:
            return GateOutcome(replayed=True, allowed=False, remaining=0)
        self.seen.add(signature)
        used = self.counts.get(access_key, 0)
        if used >= limit:
            return GateOutcome(replayed=False, allowed=False, remaining=0)
        self.counts[access_key] = used + 1
        return GateOutcome(replayed=False, allowed=True, remaining=limit - used - 1)
