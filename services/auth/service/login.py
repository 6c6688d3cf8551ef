"""Password login, token refresh, logout and password change (bearer tokens for the edge).

Access tokens are short-lived JWTs that Envoy verifies itself, so they cannot be revoked: a
deactivated user keeps a working one until it expires (at most `access ttl`, <= 5 minutes),
while refresh looks the user up every time and fails at once.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from libs.core.identity import Caller
from services.auth.domain.login import (
    InvalidCredentials,
    InvalidRefreshToken,
    IssuedTokens,
    LoginAccount,
    LoginNotAllowed,
)
from services.auth.domain.model import UserStatus
from services.auth.service.ports import (
    AccessTokenSigner,
    Clock,
    RefreshTokenStore,
    UserDirectory,
)
from services.auth.service.tenancy_ports import PasswordHasher

log = logging.getLogger(__name__)

DEFAULT_REFRESH_TTL = timedelta(days=7)


class LoginService:
    def __init__(
        self,
        *,
        users: UserDirectory,
        hasher: PasswordHasher,
        signer: AccessTokenSigner,
        refresh_tokens: RefreshTokenStore,
        clock: Clock,
        refresh_ttl: timedelta = DEFAULT_REFRESH_TTL,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._signer = signer
        self._refresh = refresh_tokens
        self._clock = clock
        self._refresh_ttl = refresh_ttl
        # Verified against for unknown e-mails, so they take as long as a wrong password.
        self._decoy_hash = hasher.hash(secrets.token_urlsafe(16))

    async def login(self, email: str, password: str) -> IssuedTokens:
        account = await self._users.find_by_email(email.strip().lower())
        password_hash = account.password_hash if account else None
        matches = self._hasher.verify(password_hash or self._decoy_hash, password)
        if account is None or password_hash is None or not matches:
            raise InvalidCredentials("wrong e-mail or password")
        return await self._issue(account)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        user_id = await self._refresh.consume(refresh_token)
        if user_id is None:
            raise InvalidRefreshToken("the refresh token is unknown, used or expired")
        account = await self._users.get(user_id)
        if account is None:
            raise InvalidRefreshToken("the refresh token's user no longer exists")
        return await self._issue(account)

    async def logout(self, refresh_token: str) -> None:
        # Unknown tokens are fine: logging out twice is not an error.
        await self._refresh.consume(refresh_token)

    async def change_password(self, caller: Caller, current: str, new: str) -> None:
        account = await self._users.get(caller.user_id)
        if account is None or account.password_hash is None:
            raise InvalidCredentials("wrong current password")
        if not self._hasher.verify(account.password_hash, current):
            raise InvalidCredentials("wrong current password")
        await self._users.set_password(account.user_id, self._hasher.hash(new))
        # Whoever else holds a refresh token (the reason to change a password) loses it.
        await self._refresh.revoke_user(account.user_id)

    async def _issue(self, account: LoginAccount) -> IssuedTokens:
        if account.status is not UserStatus.ACTIVE:
            raise LoginNotAllowed("the user is not active")
        now = self._clock()
        caller = account.caller()
        access = self._signer.issue(caller, now=now)
        refresh = await self._refresh.create(account.user_id, ttl=self._refresh_ttl.total_seconds())
        return IssuedTokens(
            caller=caller,
            access_token=access,
            refresh_token=refresh,
            refresh_expires_at=now + self._refresh_ttl,
            need_password_change=account.need_password_change,
        )
