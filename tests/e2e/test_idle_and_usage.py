"""Idle reclamation and usage through the edge, with real kernels and ordinary tenants.

A superadmin gives users resource policies with short idle timeouts or lifetimes. An unused
session is ended with reason `idle-timeout` while one that executes code every second keeps
running; a session past its max lifetime ends with `max-lifetime-exceeded`; the usage report
sums exactly the kernels' running time; users cannot read other users' usage, nor admins other
domains'.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from services.auth.domain.model import DEFAULT_DOMAIN, DEFAULT_PROJECT

pytestmark = pytest.mark.e2e

SMALL = {"cpu": "0.5", "mem": str(128 * 1024**2)}
ENDED = ("SESSION_STATUS_TERMINATING", "SESSION_STATUS_TERMINATED")


async def _until(check: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.2)


def _seconds(duration: str) -> float:
    return float(duration.removesuffix("s"))


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def _user(
    root: ShipyardClient,
    platform: Platform,
    *,
    domain: str = DEFAULT_DOMAIN,
    role: str = "ROLE_USER",
    **policy: Any,
) -> tuple[ShipyardClient, str]:
    """A new user of `domain` (of its first project) with a keypair under its own policy."""
    name = f"idle-{secrets.token_hex(4)}"
    await root.request(
        "POST",
        "/v1/resource-policies",
        body={
            "name": name,
            "default_for_unspecified": "DEFAULT_FOR_UNSPECIFIED_UNLIMITED",
            **policy,
        },
    )
    projects = await root.request("GET", "/v1/projects", params={"page_size": 1000})
    project = next(
        p
        for p in projects["projects"]
        if p["domain_name"] == domain and (domain != DEFAULT_DOMAIN or p["name"] == DEFAULT_PROJECT)
    )
    user = (
        await root.request(
            "POST",
            "/v1/users",
            body={
                "user": {"email": f"{name}@example.com", "domain_name": domain, "role": role},
                "password": secrets.token_urlsafe(16),
                "project_ids": [project["project_id"]],
            },
        )
    )["user"]
    issued = await root.request(
        "POST", f"/v1/users/{user['user_id']}/keypairs", body={"resource_policy": name}
    )
    client = ShipyardClient(
        platform.endpoint, issued["keypair"]["access_key"], issued["secret_key"]
    )
    return client, user["user_id"]


@pytest.fixture
async def idle_user(client: ShipyardClient, platform: Platform) -> AsyncIterator[ShipyardClient]:
    user, _ = await _user(client, platform, idle_timeout="4s")
    yield user
    await user.close()


async def test_an_idle_session_is_reclaimed_and_a_busy_one_is_not(
    idle_user: ShipyardClient,
) -> None:
    idle = await idle_user.create_session(wait=True, resources=SMALL)
    busy = await idle_user.create_session(wait=True, resources=SMALL)
    assert idle["status"] == busy["status"] == "SESSION_STATUS_RUNNING"
    shown = await idle_user.get_session(idle["session_id"])
    assert shown["idle_timeout"] == "4s"
    assert 0 <= _seconds(shown["idle_time_remaining"]) <= 4

    async def keep_busy() -> None:
        while True:
            result = await idle_user.execute(busy["session_id"], "print(1)")
            assert result["stdout"] == "1\n"
            await asyncio.sleep(1.0)

    worker = asyncio.create_task(keep_busy())
    try:

        async def reclaimed() -> dict[str, Any] | None:
            got = await idle_user.get_session(idle["session_id"])
            return got if got["status"] in ENDED else None

        ended = await _until(reclaimed)
        assert ended["status_info"] == "idle-timeout"
        # Two more checker rounds: the busy session still runs.
        await asyncio.sleep(12)
        assert not worker.done()
        still = await idle_user.get_session(busy["session_id"])
        assert still["status"] == "SESSION_STATUS_RUNNING", still
        assert _seconds(still["idle_time_remaining"]) > 0
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    await idle_user.destroy_session(busy["session_id"])


async def test_a_session_past_its_max_lifetime_ends(
    client: ShipyardClient, platform: Platform
) -> None:
    user, _ = await _user(client, platform, max_session_lifetime="3s")
    async with user:
        session = await user.create_session(wait=True, resources=SMALL)
        shown = await user.get_session(session["session_id"])
        assert "expire_time" in shown and "idle_timeout" not in shown
        assert _seconds(shown["lifetime_remaining"]) <= 3

        async def ended() -> dict[str, Any] | None:
            got = await user.get_session(session["session_id"])
            return got if got["status"] == "SESSION_STATUS_TERMINATED" else None

        done = await _until(ended)
        assert done["status_info"] == "max-lifetime-exceeded"


async def test_usage_is_the_kernels_running_time_and_stays_with_its_tenant(
    client: ShipyardClient, platform: Platform
) -> None:
    owner, owner_id = await _user(client, platform)
    other, _ = await _user(client, platform)
    tag = secrets.token_hex(3)
    domain = f"usage-{tag}"
    await client.request("POST", "/v1/domains", body={"name": domain, "is_active": True})
    await client.request(
        "POST", "/v1/projects", body={"domain_name": domain, "name": f"p-{tag}", "is_active": True}
    )
    foreign_admin, _ = await _user(client, platform, domain=domain, role="ROLE_ADMIN")
    async with owner, other, foreign_admin:
        session = await owner.create_session(wait=True, resources=SMALL)
        await asyncio.sleep(1.5)
        await owner.destroy_session(session["session_id"])

        async def terminated() -> dict[str, Any] | None:
            got = await owner.get_session(session["session_id"])
            return got if got["status"] == "SESSION_STATUS_TERMINATED" else None

        history = (await _until(terminated))["status_history"]
        lifetime = (_time(history["TERMINATED"]) - _time(history["RUNNING"])).total_seconds()

        mine = {"filter.user_id": owner_id}
        report = await owner.request("GET", "/v1/usage", params=mine)
        [record] = report["records"]
        assert record["user_id"] == owner_id and record["kernel_count"] == 1
        assert record["used_seconds"] == pytest.approx(lifetime, abs=0.01)
        assert record["slot_seconds"]["cpu"] == pytest.approx(0.5 * lifetime, abs=0.01)
        series = await owner.request("GET", "/v1/usage/series", params=mine)
        assert len(series["bins"]) == 30 * 24 * 4
        total = sum(b.get("used_seconds", 0) for b in series["bins"])
        assert total == pytest.approx(lifetime, abs=0.01)

        # The superadmin sees it too; another user and another domain's admin do not.
        everyone = await client.request("GET", "/v1/usage")
        assert owner_id in {r["user_id"] for r in everyone["records"]}
        for caller, params in (
            (other, mine),
            (foreign_admin, {"filter.domain_name": DEFAULT_DOMAIN}),
        ):
            with pytest.raises(ApiError) as err:
                await caller.request("GET", "/v1/usage", params=params)
            assert err.value.status == 404, err.value.body
        narrowed = await foreign_admin.request("GET", "/v1/usage", params=mine)
        assert narrowed.get("records", []) == []
        with pytest.raises(ApiError) as err:
            await owner.request("GET", "/v1/usage/series", params={"bin_width": "1s", **mine})
        assert err.value.status == 400 and "bin_width" in str(err.value.body)


async def test_a_kernels_stats_are_shown_while_it_runs_and_kept_once_it_ended(
    client: ShipyardClient, platform: Platform
) -> None:
    user, _ = await _user(client, platform)
    async with user:
        session = await user.create_session(wait=True, resources=SMALL)
        sid = session["session_id"]
        try:
            work = await user.execute(
                sid, "block = bytearray(32 << 20)\nsum(i * i for i in range(2_000_000))"
            )
            assert work["status"] == "EXECUTION_STATUS_FINISHED", work

            async def measured() -> dict[str, Any] | None:
                # A report sampled before the cell ran may still be the newest for a while:
                # wait for one that shows the cell's work (CPU and the 32 MiB it holds).
                kernel = (await user.get_session(sid))["kernels"][0]
                stats = kernel.get("stats", {})
                cpu, mem = float(stats.get("cpu_seconds", 0)), int(stats.get("mem_bytes", 0))
                return stats if cpu > 0.1 and mem >= 32 << 20 else None

            live = await _until(measured, timeout=30)
        finally:
            await user.destroy_session(sid)

        async def ended() -> dict[str, Any] | None:
            got = await user.get_session(sid)
            return got if got["status"] == "SESSION_STATUS_TERMINATED" else None

        kept = (await _until(ended))["kernels"][0]["stats"]
        assert kept["cpu_seconds"] >= live["cpu_seconds"]
