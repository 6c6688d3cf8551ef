"""`shipyard up --tls` as users get it: HTTPS with the self-signed certificate it made, keypair
signing and password login (bearer tokens verified by the edge) on the same platform."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher

from cli.client import ShipyardClient
from cli.platform import Platform, PlatformConfig
from tests.conftest import create_database, drop_database

pytestmark = pytest.mark.e2e

PASSWORD = "e2e admin password"


@pytest.fixture(scope="module")
async def tls_platform(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Platform]:
    db_name, database_url = await create_database()
    data_dir: Path = tmp_path_factory.mktemp("shipyard-tls")
    config = PlatformConfig.ephemeral(
        data_dir,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"e2e-tls:{secrets.token_hex(4)}:",
        tls=True,
    )
    running = Platform(config)
    await running.start()
    yield running
    await running.stop()
    await drop_database(db_name)


async def test_https_with_the_generated_certificate(tls_platform):
    assert tls_platform.endpoint.startswith("https://")
    assert tls_platform.ca_file is not None and tls_platform.ca_file.is_file()
    kp = tls_platform.keypair
    assert kp is not None
    async with ShipyardClient(
        tls_platform.endpoint, kp.access_key, kp.secret_key, verify=str(tls_platform.ca_file)
    ) as client:
        assert (await client.whoami())["access_key"] == kp.access_key
    async with httpx.AsyncClient() as untrusting:
        with pytest.raises(httpx.ConnectError):
            await untrusting.get(tls_platform.endpoint + "/v1/identity")


async def test_password_login_gives_a_bearer_token_the_edge_accepts(tls_platform):
    assert tls_platform.infra is not None
    conn = await asyncpg.connect(tls_platform.infra.database_url.replace("+asyncpg", ""))
    try:
        email = await conn.fetchval(
            "UPDATE auth.users SET password_hash = $1 WHERE role = 'superadmin' RETURNING email",
            PasswordHasher().hash(PASSWORD),
        )
    finally:
        await conn.close()
    async with httpx.AsyncClient(
        base_url=tls_platform.endpoint, verify=str(tls_platform.ca_file)
    ) as http:
        login = await http.post("/v1/auth:login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["tokens"]["access_token"]
        me = await http.get("/v1/identity", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["identity"]["email"] == email
    assert me.json()["identity"]["role"] == "ROLE_SUPERADMIN"
