"""Scheduling features end to end (edge → auth → registry → scheduler → process agent):
dependencies that succeed, and preemption by a higher-priority session."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import datetime
from typing import Any

import pytest

from cli.client import ShipyardClient
from cli.platform import Platform
from services.auth.domain.model import DEFAULT_DOMAIN, DEFAULT_PROJECT

pytestmark = pytest.mark.e2e

SMALL = {"cpu": "1", "mem": "268435456"}


async def _until(check: Any, timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.1)


async def _status(client: ShipyardClient, sid: str, *wanted: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        got = await client.get_session(sid)
        return got if got["status"] in wanted else None

    result: dict[str, Any] = await _until(reached)
    return result


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_batch_session_starts_only_after_its_dependency_succeeded(
    client: ShipyardClient,
) -> None:
    parent = await client.create_session(
        session_type="SESSION_TYPE_BATCH", startup_command="sleep 1; exit 0", resources=SMALL
    )
    child = await client.create_session(
        session_type="SESSION_TYPE_BATCH",
        startup_command="exit 0",
        resources=SMALL,
        dependencies=[parent["session_id"]],
    )
    assert child["dependencies"] == [parent["session_id"]]
    done_parent = await _status(client, parent["session_id"], "SESSION_STATUS_TERMINATED")
    done_child = await _status(client, child["session_id"], "SESSION_STATUS_TERMINATED")
    assert _when(done_child["status_history"]["SCHEDULED"]) >= _when(done_parent["terminate_time"])


async def _user_allowed_priority(platform: Platform, highest: int) -> ShipyardClient:
    assert platform.keypair is not None
    keys = platform.keypair
    async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as root:
        policy = f"urgent-{secrets.token_hex(4)}"
        await root.request(
            "POST",
            "/v1/resource-policies",
            body={"name": policy, "max_session_priority": highest},
        )
        projects = await root.request("GET", "/v1/projects", params={"page_size": 1000})
        project = next(p for p in projects["projects"] if p["name"] == DEFAULT_PROJECT)
        user = (
            await root.request(
                "POST",
                "/v1/users",
                body={
                    "user": {
                        "email": f"u-{secrets.token_hex(4)}@example.com",
                        "domain_name": DEFAULT_DOMAIN,
                        "role": "ROLE_USER",
                    },
                    "password": secrets.token_urlsafe(16),
                    "project_ids": [project["project_id"]],
                },
            )
        )["user"]
        issued = await root.request(
            "POST", f"/v1/users/{user['user_id']}/keypairs", body={"resource_policy": policy}
        )
    return ShipyardClient(platform.endpoint, issued["keypair"]["access_key"], issued["secret_key"])


async def test_a_higher_priority_session_preempts_a_preemptible_one(
    throwaway_platform: Platform,
) -> None:
    # Its own platform: the sessions need the whole agent, which another test's session on the
    # shared platform could hold, and a failure must not leave the shared agent full.
    async with await _user_allowed_priority(throwaway_platform, 10) as user:
        whole = {"cpu": "2", "mem": "268435456"}  # the agent's every CPU
        low = await user.create_session(resources=whole, preemptible=True, wait=True)
        urgent: dict[str, Any] = {}
        try:
            assert low["status"] == "SESSION_STATUS_RUNNING", low
            urgent = await user.create_session(resources=whole, priority=5)
            ended = await _status(
                user, low["session_id"], "SESSION_STATUS_TERMINATED", "SESSION_STATUS_TERMINATING"
            )
            assert ended["status_info"] == "preempted"
            running = await _status(user, urgent["session_id"], "SESSION_STATUS_RUNNING")
            assert running["priority"] == 5
        finally:
            for sid in (low["session_id"], urgent.get("session_id")):
                if sid:
                    with contextlib.suppress(Exception):
                        await user.destroy_session(sid, forced=True)


async def test_a_preempted_batch_session_that_asked_is_queued_again_and_runs_later(
    throwaway_platform: Platform,
) -> None:
    # Its own platform: the sessions fill the agent, and a failure must not leave the shared
    # platform full for the tests after it.
    async with await _user_allowed_priority(throwaway_platform, 10) as user:
        whole = {"cpu": "2", "mem": "268435456"}  # the agent's every CPU
        low = await user.create_session(
            session_type="SESSION_TYPE_BATCH",
            startup_command="sleep 600",
            resources=whole,
            preemptible=True,
            requeue_on_preemption=True,
            wait=True,
        )
        urgent: dict[str, Any] = {}
        try:
            assert low["status"] == "SESSION_STATUS_RUNNING", low
            first_kernel = low["kernels"][0]["kernel_id"]
            urgent = await user.create_session(resources=whole, priority=5)
            back = await _status(user, low["session_id"], "SESSION_STATUS_PENDING")
            assert back["status_info"] == "preempted-requeued"
            assert urgent["session_id"] in back["status_message"]
            await _status(user, urgent["session_id"], "SESSION_STATUS_RUNNING")
            await user.destroy_session(urgent["session_id"])
            again = await _status(user, low["session_id"], "SESSION_STATUS_RUNNING")
            # The second run is a fresh kernel; the first was destroyed, not left running.
            assert again["kernels"][0]["kernel_id"] != first_kernel
        finally:
            for sid in (low["session_id"], urgent.get("session_id")):
                if sid:
                    with contextlib.suppress(Exception):
                        await user.destroy_session(sid, forced=True)
