"""Password login and bearer tokens: the account a login sees, the tokens it gets, its errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from libs.core.errors import Unauthenticated
from libs.core.identity import Caller, Role
from services.auth.domain.model import UserStatus

TOKEN_TYPE = "Bearer"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginAccount:
    """A user as login needs it. `access_key` is the user's main keypair ("" if none): sessions
    are owned per access key, so a bearer caller acts as that key, as Backend.AI's web login."""

    user_id: str
    email: str
    password_hash: str | None  # None: the user cannot log in with a password
    status: UserStatus
    need_password_change: bool
    role: Role
    domain_name: str
    project_ids: tuple[str, ...]
    access_key: str

    def caller(self) -> Caller:
        return Caller(
            user_id=self.user_id,
            access_key=self.access_key,
            role=self.role,
            domain_name=self.domain_name,
            project_ids=self.project_ids,
            email=self.email,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedTokens:
    caller: Caller  # whom the tokens stand for
    access_token: AccessToken
    refresh_token: str
    refresh_expires_at: datetime
    need_password_change: bool


class InvalidCredentials(Unauthenticated):
    """Unknown e-mail or wrong password: one error for both, so e-mails cannot be probed."""

    reason = "INVALID_CREDENTIALS"


class InvalidRefreshToken(Unauthenticated):
    reason = "INVALID_REFRESH_TOKEN"


class LoginNotAllowed(Unauthenticated):
    """Right password, but the user is not active."""

    reason = "INACTIVE_USER"
