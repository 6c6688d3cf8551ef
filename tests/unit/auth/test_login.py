"""The login use case with in-memory ports: credentials, refresh rotation, inactive users."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from libs.core.identity import Caller, Role
from services.auth.domain.login import (
    AccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
    LoginAccount,
    LoginNotAllowed,
)
from services.auth.domain.model import UserStatus
from services.auth.service.login import LoginService
from tests.unit.auth.factories import DATE, USER_ID, FixedClock


class PlainHasher:
    """Not a real hash: enough to see which password was checked."""

    def __init__(self) -> None:
        self.verified: list[str] = []

    def hash(self, password: str) -> str:
        return "h:" + password

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return password_hash == "h:" + password


class Users:
    def __init__(self, *accounts: LoginAccount) -> None:
        self.accounts = {a.user_id: a for a in accounts}

    async def find_by_email(self, email: str) -> LoginAccount | None:
        return next((a for a in self.accounts.values() if a.email == email), None)

    async def get(self, user_id: str) -> LoginAccount | None:
        return self.accounts.get(user_id)

    async def set_password(self, user_id: str, password_hash: str) -> None:
        account = self.accounts[user_id]
        self.accounts[user_id] = replace(
            account, password_hash=password_hash, need_password_change=False
        )


class Signer:
    def issue(self, caller: Caller, *, now):  # type: ignore[no-untyped-def]
        return AccessToken(token=f"jwt-for-{caller.user_id}", expires_at=now + timedelta(minutes=5))


class RefreshTokens:
    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.issued = 0

    async def create(self, user_id: str, *, ttl: float) -> str:
        self.issued += 1
        token = f"r{self.issued}-{user_id}"
        self.tokens[token] = user_id
        return token

    async def consume(self, token: str) -> str | None:
        return self.tokens.pop(token, None)

    async def revoke_user(self, user_id: str) -> None:
        self.tokens = {t: u for t, u in self.tokens.items() if u != user_id}


ACCOUNT = LoginAccount(
    user_id=USER_ID,
    email="user@example.com",
    password_hash="h:secret",
    status=UserStatus.ACTIVE,
    need_password_change=False,
    role=Role.USER,
    domain_name="default",
    project_ids=(),
    access_key="AKIAIOSFODNN7EXAMPLE",
)


def service(*accounts: LoginAccount, hasher: PlainHasher | None = None) -> LoginService:
    return LoginService(
        users=Users(*(accounts or (ACCOUNT,))),
        hasher=hasher or PlainHasher(),
        signer=Signer(),
        refresh_tokens=RefreshTokens(),
        clock=FixedClock(DATE),
    )


async def test_login_returns_an_access_and_a_refresh_token():
    issued = await service().login("User@Example.com ", "secret")
    assert issued.access_token.token == f"jwt-for-{USER_ID}"
    assert issued.refresh_expires_at == DATE + timedelta(days=7)
    assert issued.need_password_change is False


async def test_unknown_email_still_checks_a_password_hash():
    hasher = PlainHasher()
    with pytest.raises(InvalidCredentials):
        await service(hasher=hasher).login("nobody@example.com", "secret")
    assert len(hasher.verified) == 1  # the decoy: same work as for a wrong password


async def test_user_without_a_password_cannot_log_in():
    with pytest.raises(InvalidCredentials):
        await service(replace(ACCOUNT, password_hash=None)).login(ACCOUNT.email, "")


async def test_inactive_user_with_the_right_password_is_refused():
    with pytest.raises(LoginNotAllowed):
        await service(replace(ACCOUNT, status=UserStatus.INACTIVE)).login(ACCOUNT.email, "secret")


async def test_refresh_token_works_once():
    login = service()
    issued = await login.login(ACCOUNT.email, "secret")
    again = await login.refresh(issued.refresh_token)
    assert again.refresh_token != issued.refresh_token
    with pytest.raises(InvalidRefreshToken):
        await login.refresh(issued.refresh_token)


async def test_change_password_needs_the_current_one_and_clears_the_flag():
    login = service(replace(ACCOUNT, need_password_change=True))
    issued = await login.login(ACCOUNT.email, "secret")
    assert issued.need_password_change is True
    caller = Caller(user_id=USER_ID)
    with pytest.raises(InvalidCredentials):
        await login.change_password(caller, "wrong", "new secret")
    await login.change_password(caller, "secret", "new secret")
    with pytest.raises(InvalidRefreshToken):  # every refresh token of the user is revoked
        await login.refresh(issued.refresh_token)
    assert (await login.login(ACCOUNT.email, "new secret")).need_password_change is False
