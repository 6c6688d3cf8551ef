"""The admin flow through the edge: a superadmin builds a tenant with the CLI and REST, its
user works with their own keypair, and deactivating the user ends their running session."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.cli_as_user import cli_ok

pytestmark = pytest.mark.e2e


async def shipyard(platform: Platform, *args: str, stdin: str = "") -> str:
    """Run the real CLI as the superadmin; its output."""
    return await cli_ok(platform, platform.keypair, *args, stdin=stdin)


async def _until(check: Any, timeout: float = 30.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.1)


async def test_admin_flow_and_deactivation_ends_the_users_session(
    platform: Platform, client: ShipyardClient
) -> None:
    domain = f"acme-{secrets.token_hex(3)}"
    assert domain in await shipyard(
        platform, "admin", "domain", "create", domain, "--slots", "cpu=8"
    )
    project = json.loads(
        await shipyard(platform, "admin", "project", "create", "ml", "--domain", domain, "--json")
    )
    email = f"ada-{secrets.token_hex(3)}@example.com"
    user = json.loads(
        await shipyard(
            platform,
            "admin", "user", "create", email, "--domain", domain,
            "--project", project["project_id"], "--password-stdin", "--json",
            stdin="a long enough password\n",
        )
    )  # fmt: skip
    policy = f"small-{domain}"
    await shipyard(platform, "admin", "policy", "create", policy, "--max-concurrent-sessions", "2")
    issued = json.loads(
        await shipyard(
            platform,
            "admin", "keypair", "create", user["user_id"], "--resource-policy", policy, "--json",
        )
    )  # fmt: skip
    await shipyard(
        platform, "admin", "resource-group-access", "update", "default", "--domains",
        f"default,{domain}",
    )  # fmt: skip
    table = await shipyard(platform, "admin", "user", "list", "--domain", domain)
    assert table.splitlines()[0].split()[:3] == ["USER_ID", "EMAIL", "DOMAIN_NAME"]
    assert email in table

    key, secret = issued["keypair"]["access_key"], issued["secret_key"]
    async with ShipyardClient(platform.endpoint, key, secret) as ada:
        me = await ada.whoami()
        assert me["email"] == email and me["project_ids"] == [project["project_id"]]
        session = await ada.create_session(wait=True, resources={"cpu": "1", "mem": "268435456"})
        assert session["status"] == "SESSION_STATUS_RUNNING", session
        root = await client.whoami()
        with pytest.raises(ApiError) as hidden:  # another account does not exist for a user
            await ada.request("GET", f"/v1/users/{root['user_id']}")
        assert hidden.value.status == 404
        with pytest.raises(ApiError) as denied:  # and a user changes no account
            await ada.request("DELETE", f"/v1/users/{root['user_id']}")
        assert denied.value.status == 403

        reply = await client.request(
            "PATCH",
            f"/v1/users/{user['user_id']}",
            body={
                "user": {"user_id": user["user_id"], "status": "USER_STATUS_INACTIVE"},
                "update_mask": "status",
                "end_sessions": True,
            },
        )
        assert reply["sessions_ended"] is True and reply["ended_session_count"] == 1

        async def ended() -> dict[str, Any] | None:
            found = await client.get_session(session["session_id"])
            return found if found["status"] == "SESSION_STATUS_TERMINATED" else None

        final = await _until(ended)
        assert final["status_info"] == "owner-deactivated"
        with pytest.raises(ApiError) as refused:
            await ada.whoami()
        assert refused.value.status == 401

    events = await client.request(
        "GET", "/v1/audit-events", params={"target_id": user["user_id"], "action": "user.update"}
    )
    assert [e["outcome"] for e in events["events"]] == ["AUDIT_OUTCOME_SUCCESS"]
    assert events["events"][0]["trace_id"]
