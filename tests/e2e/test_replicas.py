"""`shipyard up --replicas 2` against the real services: two auth and two registry processes
(and two schedulers) behind one edge port, and a registry replica killed under h2load load
loses no idempotent call."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher

from cli.platform import Platform, PlatformConfig
from tests.conftest import create_database, drop_database
from tests.integration.gateway.xds_harness import h2load_summary

pytestmark = pytest.mark.e2e

PASSWORD = "e2e replicas password"


@pytest.fixture(scope="module")
async def replicated(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Platform]:
    db_name, database_url = await create_database()
    data_dir: Path = tmp_path_factory.mktemp("shipyard-replicas")
    config = PlatformConfig.ephemeral(
        data_dir,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"e2e-replicas:{secrets.token_hex(4)}:",
        replicas=2,
    )
    running = Platform(config)
    await running.start()
    yield running
    await running.stop()
    await drop_database(db_name)


async def _healthy_hosts(platform: Platform) -> dict[str, int]:
    admin = f"http://127.0.0.1:{platform.config.edge_admin_port}"
    async with httpx.AsyncClient() as http:
        clusters = (await http.get(f"{admin}/clusters?format=json")).json()
    healthy: dict[str, int] = {}
    for c in clusters["cluster_statuses"]:
        statuses = [h["health_status"] for h in c.get("host_statuses", [])]
        healthy[c["name"]] = sum(
            s.get("eds_health_status") == "HEALTHY" and len(s) == 1 for s in statuses
        )
    return healthy


async def test_every_replica_runs_and_the_edge_balances_across_them(replicated):
    assert {"auth", "auth-1", "registry", "registry-1", "scheduler", "scheduler-1"} <= set(
        replicated.processes
    )
    for _ in range(50):  # the first health checks
        healthy = await _healthy_hosts(replicated)
        if healthy.get("auth") == 2 and healthy.get("registry") == 2:
            break
        await asyncio.sleep(0.1)
    assert healthy["auth"] == 2 and healthy["registry"] == 2
    assert healthy["scheduler"] == 2


async def _bearer_token(platform: Platform) -> str:
    assert platform.infra is not None
    conn = await asyncpg.connect(platform.infra.database_url.replace("+asyncpg", ""))
    try:
        email = await conn.fetchval(
            "UPDATE auth.users SET password_hash = $1 WHERE role = 'superadmin' RETURNING email",
            PasswordHasher().hash(PASSWORD),
        )
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=platform.endpoint) as http:
        login = await http.post("/v1/auth:login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token: str = login.json()["tokens"]["access_token"]
    return token


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) not installed")
async def test_registry_replica_killed_under_load_loses_no_idempotent_call(replicated):
    token = await _bearer_token(replicated)
    total = 900  # under the edge's per-user bearer rate limit
    load = await asyncio.create_subprocess_exec(
        *("h2load", "-n", str(total), "-c", "4", "-m", "2"),
        *("-H", f"authorization: Bearer {token}", f"{replicated.endpoint}/v1/sessions"),
        stdout=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.5)
    assert load.returncode is None, "the load ended before the kill"
    victim = replicated.processes["registry-1"]
    victim.send_signal(signal.SIGKILL)
    await victim.wait()
    out, _ = await load.communicate()
    summary = h2load_summary(out.decode())

    assert summary["total"] == total
    assert summary["succeeded"] == total, out.decode()
    assert summary["5xx"] == 0 and summary["4xx"] == 0
