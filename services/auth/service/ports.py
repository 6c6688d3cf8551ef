"""Ports of auth's application layer."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from libs.core.identity import Role
from services.auth.domain.model import KeypairOwner, StoredKeypair

Clock = Callable[[], datetime]
"""The current time, timezone-aware."""


class KeypairStore(Protocol):
    """Looks keypairs up for request verification (the hot path)."""

    async def find(self, access_key: str) -> KeypairOwner | None:
        """The keypair with its owner, or None when the access key is unknown."""
        ...


class UsageRecorder(Protocol):
    """Notes that a keypair was used; must be cheap (no I/O on the caller's path)."""

    def touch(self, access_key: str, at: datetime) -> None: ...


class BootstrapTransaction(Protocol):
    """One transaction over the tenancy tables, serialized against other bootstraps."""

    async def ensure_domain(self, name: str) -> None: ...

    async def ensure_group_access(self, *, resource_group: str, domain_name: str) -> None:
        """Let the domain use the resource group (kept if it already may)."""
        ...

    async def ensure_project(self, *, domain_name: str, name: str) -> str:
        """The project's id, creating it if needed."""
        ...

    async def ensure_user(self, *, email: str, username: str, role: Role, domain_name: str) -> str:
        """The id of the user with this e-mail, creating it if needed (existing users unchanged)."""
        ...

    async def ensure_member(self, *, project_id: str, user_id: str) -> None: ...

    async def find_keypair(self, access_key: str) -> StoredKeypair | None: ...

    async def find_user_keypair(self, user_id: str) -> StoredKeypair | None:
        """The user's oldest active admin keypair, if any."""
        ...

    async def save_keypair(self, keypair: StoredKeypair) -> None:
        """Insert the keypair, or update secret and flags of the existing one."""
        ...


class BootstrapStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[BootstrapTransaction]: ...
