"""The utilization checker with real kernels, on a platform of its own (its resource group's
policy would otherwise end the other tests' quiet sessions).

An admin sets the default group's `idle_utilization` (CPU at least 20 % of the allocation over
12 s). A session that does nothing is ended with reason `utilization`; one whose kernel keeps a
thread computing is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from cli.client import ShipyardClient
from cli.platform import Platform

pytestmark = pytest.mark.e2e

SMALL = {"cpu": "0.5", "mem": str(128 * 1024**2)}
SPIN = (
    "import threading\n"
    "def spin():\n"
    "    while True:\n"
    "        sum(range(100_000))\n"
    "threading.Thread(target=spin, daemon=True).start()\n"
)


async def _until(check: Callable[[], Awaitable[Any]], timeout: float) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.5)


@pytest.fixture
async def root(throwaway_platform: Platform) -> AsyncIterator[ShipyardClient]:
    keys = throwaway_platform.keypair
    assert keys is not None
    async with ShipyardClient(throwaway_platform.endpoint, keys.access_key, keys.secret_key) as c:
        yield c


async def test_an_under_used_session_ends_and_a_computing_one_runs_on(
    root: ShipyardClient,
) -> None:
    policy = {"window": "12s", "thresholds": {"cpu": 20}}
    updated = await root.request(
        "PATCH",
        "/v1/resource-groups/default",
        body={"idle_utilization": policy},
        params={"update_mask": "idle_utilization"},
    )
    assert updated["resource_group"]["idle_utilization"]["thresholds"] == {"cpu": 20}
    quiet = await root.create_session(wait=True, resources=SMALL)
    busy = await root.create_session(wait=True, resources=SMALL)
    started = await root.execute(busy["session_id"], SPIN)
    assert started["status"] == "EXECUTION_STATUS_FINISHED", started

    async def ended() -> dict[str, Any] | None:
        got = await root.get_session(quiet["session_id"])
        return (
            got
            if got["status"] in ("SESSION_STATUS_TERMINATING", "SESSION_STATUS_TERMINATED")
            else None
        )

    gone = await _until(ended, timeout=90)
    assert gone["status_info"] == "utilization"
    still = await root.get_session(busy["session_id"])
    assert still["status"] == "SESSION_STATUS_RUNNING", still
    assert still["kernels"][0]["stats"]["cpu_seconds"] > 1.0
