"""`shipyard login` / `logout` against a real edge: tokens saved, used, refreshed, revoked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from cli.login import LOGIN_FILE, LoginError, SavedLogin
from cli.main import _client, _parser, cmd_login, cmd_logout
from tests.integration.edgeauth.stack import LoginUser, Stack, add_user, edge_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(auth_db, redis_url, tmp_path_factory) -> AsyncIterator[Stack]:
    async with edge_stack(auth_db, redis_url, tmp_path_factory.mktemp("edge")) as s:
        yield s


@pytest.fixture
async def user(stack) -> LoginUser:
    return await add_user(stack, password="cli password 1")


def args(data_dir, *argv):
    return _parser().parse_args(["--data-dir", str(data_dir), *argv])


async def test_login_whoami_refresh_and_logout(stack, user, tmp_path, monkeypatch):
    for name in ("SHIPYARD_ACCESS_KEY", "BACKEND_ACCESS_KEY", "SHIPYARD_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    login_args = args(
        tmp_path, "login", "--email", user.email, "--password", user.password,
        "--endpoint", stack.endpoint,
    )  # fmt: skip
    assert await cmd_login(login_args) == 0
    saved_file = tmp_path / LOGIN_FILE
    assert oct(saved_file.stat().st_mode & 0o777) == "0o600"

    async with _client(args(tmp_path, "whoami")) as client:
        assert (await client.whoami())["user_id"] == user.user_id

    # Pretend the access token is about to expire: the next call refreshes it first.
    saved = json.loads(saved_file.read_text())
    first_refresh = saved["refresh_token"]
    saved["access_expires_at"] = "2000-01-01T00:00:00+00:00"
    saved_file.write_text(json.dumps(saved))
    async with _client(args(tmp_path, "whoami")) as client:
        assert (await client.whoami())["email"] == user.email
    refreshed = SavedLogin.load(tmp_path)
    assert refreshed is not None and refreshed.refresh_token != first_refresh

    assert await cmd_logout(args(tmp_path, "logout", "--endpoint", stack.endpoint)) == 0
    assert not saved_file.exists()
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            stack.endpoint + "/v1/auth:refresh", json={"refresh_token": refreshed.refresh_token}
        )
    assert reply.status_code == 401


async def test_wrong_password_saves_nothing(stack, user, tmp_path):
    login_args = args(
        tmp_path, "login", "--email", user.email, "--password", "wrong",
        "--endpoint", stack.endpoint,
    )  # fmt: skip
    with pytest.raises(LoginError) as info:
        await cmd_login(login_args)
    assert info.value.status == 401
    assert not (tmp_path / LOGIN_FILE).exists()
