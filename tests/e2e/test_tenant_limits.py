"""E2E through the edge with real tenants: a concurrency limit, and another user's session.

A superadmin creates a domain, a project, two users with keypairs and a policy with
max_concurrent_sessions = 1. The first user's second session waits with `concurrency-limit`
until the first ends; the second user cannot get, list, execute in or destroy the first
user's session (404).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform

pytestmark = pytest.mark.e2e

SMALL = {"cpu": "0.5", "mem": str(128 * 1024**2)}


async def _until(check: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.1)


@dataclass
class Member:
    client: ShipyardClient
    user_id: str
    access_key: str


async def _tenant_user(
    root: ShipyardClient, platform: Platform, *, domain: str, project_id: str, policy: str
) -> Member:
    email = f"u-{secrets.token_hex(4)}@example.com"
    user = (
        await root.request(
            "POST",
            "/v1/users",
            body={
                "user": {"email": email, "domain_name": domain, "role": "ROLE_USER"},
                "password": secrets.token_urlsafe(16),
                "project_ids": [project_id],
            },
        )
    )["user"]
    issued = await root.request(
        "POST",
        f"/v1/users/{user['user_id']}/keypairs",
        body={"resource_policy": policy},
    )
    access_key = issued["keypair"]["access_key"]
    client = ShipyardClient(platform.endpoint, access_key, issued["secret_key"])
    return Member(client, user["user_id"], access_key)


async def _allow_group(root: ShipyardClient, group: str, domain: str) -> None:
    current = (await root.request("GET", f"/v1/resource-groups/{group}/access"))["access"]
    domains = sorted({*current.get("domain_names", []), domain})
    await root.request(
        "PATCH",
        f"/v1/resource-groups/{group}/access",
        body={"resource_group": group, "domain_names": domains},
        params={"update_mask": "domain_names"},
    )


@pytest.fixture
async def tenants(client: ShipyardClient, platform: Platform) -> AsyncIterator[list[Member]]:
    tag = secrets.token_hex(4)
    policy = f"one-at-a-time-{tag}"
    await client.request(
        "POST",
        "/v1/resource-policies",
        body={
            "name": policy,
            "default_for_unspecified": "DEFAULT_FOR_UNSPECIFIED_UNLIMITED",
            "max_concurrent_sessions": 1,
        },
    )
    domain = f"team-{tag}"
    await client.request("POST", "/v1/domains", body={"name": domain, "is_active": True})
    project = (
        await client.request(
            "POST",
            "/v1/projects",
            body={"domain_name": domain, "name": f"research-{tag}", "is_active": True},
        )
    )["project"]
    await _allow_group(client, "default", domain)
    members = [
        await _tenant_user(
            client, platform, domain=domain, project_id=project["project_id"], policy=policy
        )
        for _ in range(3)
    ]
    yield members
    for member in members:
        await member.client.close()


async def _not_found(call: Awaitable[Any]) -> None:
    with pytest.raises(ApiError) as err:
        await call
    assert err.value.status == 404, err.value.body


async def test_a_second_session_waits_for_the_first_and_others_cannot_touch_it(
    tenants: list[Member],
) -> None:
    alice, bob = tenants[0].client, tenants[1].client
    first = await alice.create_session(wait=True, resources=SMALL)
    assert first["status"] == "SESSION_STATUS_RUNNING", first
    second = await alice.create_session(resources=SMALL)
    sid1, sid2 = first["session_id"], second["session_id"]

    async def held_back() -> dict[str, Any] | None:
        got = await alice.get_session(sid2)
        return got if got["status_info"] == "concurrency-limit" else None

    waiting = await _until(held_back)
    assert waiting["status"] == "SESSION_STATUS_PENDING"
    assert "max_concurrent_sessions is 1" in waiting["status_message"]

    # Another user of the same project and domain: the session does not exist for them.
    await _not_found(bob.get_session(sid1))
    listed = await bob.list_sessions()
    assert sid1 not in {s["session_id"] for s in listed.get("sessions", [])}
    await _not_found(bob.execute(sid1, "print(1)"))
    await _not_found(bob.destroy_session(sid1))
    assert (await alice.get_session(sid1))["status"] == "SESSION_STATUS_RUNNING"

    await alice.destroy_session(sid1)

    async def placed() -> bool:
        return (await alice.get_session(sid2))["status"] == "SESSION_STATUS_RUNNING"

    await _until(placed)
    await alice.destroy_session(sid2)


async def _refused(client: ShipyardClient) -> bool:
    try:
        await client.list_sessions()
    except ApiError as exc:
        return exc.status == 401
    return False


async def test_a_revoked_keypair_and_a_deactivated_user_are_refused_within_a_second(
    client: ShipyardClient, tenants: list[Member]
) -> None:
    _, revoked, deactivated = tenants
    for member in (revoked, deactivated):
        await member.client.list_sessions()  # both work before

    await client.request("DELETE", f"/v1/users/{revoked.user_id}/keypairs/{revoked.access_key}")
    await client.request(
        "PATCH",
        f"/v1/users/{deactivated.user_id}",
        body={"user": {"user_id": deactivated.user_id, "status": "USER_STATUS_INACTIVE"}},
        params={"update_mask": "status"},
    )

    for member in (revoked, deactivated):
        assert await _until(lambda m=member: _refused(m.client), timeout=1.0)
        with pytest.raises(ApiError) as err:
            await member.client.create_session(resources=SMALL)
        assert err.value.status == 401
