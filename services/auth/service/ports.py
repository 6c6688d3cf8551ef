"""Ports of auth's application layer."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from libs.core.identity import Caller, Role
from services.auth.domain.login import AccessToken, LoginAccount
from services.auth.domain.model import GateOutcome, KeypairOwner, StoredKeypair

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


class RequestGate(Protocol):
    """Counts a verified signed request against its key's rate limit and refuses a replay, in
    one step shared by every auth replica (one store round trip per request)."""

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
        """`replay_ttl` and `window` in seconds: how long the signature must stay remembered,
        and the sliding window `limit` requests are counted over."""
        ...


class UserDirectory(Protocol):
    """The users that can log in with a password (the tenancy tables)."""

    async def find_by_email(self, email: str) -> LoginAccount | None: ...

    async def get(self, user_id: str) -> LoginAccount | None: ...

    async def set_password(self, user_id: str, password_hash: str) -> None:
        """Store a new password hash and clear the user's need-password-change flag."""
        ...


class AccessTokenSigner(Protocol):
    """Signs the short-lived bearer tokens the edge verifies itself (Envoy jwt_authn)."""

    def issue(self, caller: Caller, *, now: datetime) -> AccessToken: ...


class RefreshTokenStore(Protocol):
    """Opaque refresh tokens, stored hashed; each works once (rotation)."""

    async def create(self, user_id: str, *, ttl: float) -> str:
        """A new refresh token for the user."""
        ...

    async def consume(self, token: str) -> str | None:
        """The token's user id, revoking the token; None when unknown, used or expired."""
        ...

    async def revoke_user(self, user_id: str) -> None:
        """Revoke every refresh token of the user."""
        ...
