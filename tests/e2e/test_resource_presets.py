"""Resource presets through the edge: only superadmins write them; check-presets matches the
keypair's limits and what running sessions hold, as ordinary users see it."""

from __future__ import annotations

import secrets
from decimal import Decimal

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.tenants import client_for, ordinary_user

pytestmark = pytest.mark.e2e

MIB = 1024**2


async def test_presets_and_what_remains(platform: Platform, client: ShipyardClient) -> None:
    small = {
        "name": f"small-{secrets.token_hex(2)}",
        "resource_slots": {"amounts": {"cpu": "0.5", "mem": str(128 * MIB)}},
    }
    huge = {"name": f"huge-{secrets.token_hex(2)}", "resource_slots": {"amounts": {"cpu": "64"}}}
    for preset in (small, huge):
        await client.request("POST", "/v1/resource-presets", body=preset)
    alice = await ordinary_user(platform)
    async with client_for(platform, alice) as c:
        with pytest.raises(ApiError) as err:
            await c.request("POST", "/v1/resource-presets", body={**small, "name": "mine"})
        assert err.value.status == 403
        names = {
            p["name"] for p in (await c.request("GET", "/v1/resource-presets"))["resource_presets"]
        }
        assert {small["name"], huge["name"]} <= names

        before = await c.request("POST", "/v1/resource-presets:check", body={})
        session = await c.create_session(resources={"cpu": "0.5", "mem": str(128 * MIB)}, wait=True)
        after = await c.request("POST", "/v1/resource-presets:check", body={})
        using = after["keypair"]["using"]["amounts"]
        assert (Decimal(using["cpu"]), int(using["mem"])) == (Decimal("0.5"), 128 * MIB)
        group = {g["name"]: g for g in after["resource_groups"]}[session["resource_group"]]
        assert Decimal(group["using"]["amounts"]["cpu"]) == Decimal("0.5")
        free_before = {g["name"]: g for g in before["resource_groups"]}[session["resource_group"]]
        drop = Decimal(free_before["remaining"]["amounts"]["cpu"]) - Decimal(
            group["remaining"]["amounts"].get("cpu", "0")
        )
        assert drop == Decimal("0.5")  # only this session started in between
        fits = {p["resource_preset"]["name"]: p.get("allocatable", False) for p in after["presets"]}
        assert fits[small["name"]] is True and fits[huge["name"]] is False
        await c.destroy_session(session["session_id"])

    # A keypair cap shows up as the limit and bounds what remains.
    policy = f"p-{secrets.token_hex(3)}"
    await client.request(
        "POST",
        "/v1/resource-policies",
        body={"name": policy, "total_resource_slots": {"amounts": {"cpu": "1"}}},
    )
    bob = await ordinary_user(platform)
    async with client_for(platform, bob) as b:
        user_id = (await b.whoami())["user_id"]
    issued = await client.request(
        "POST", f"/v1/users/{user_id}/keypairs", body={"resource_policy": policy}
    )
    async with ShipyardClient(
        platform.endpoint, issued["keypair"]["access_key"], issued["secret_key"]
    ) as capped:
        session = await capped.create_session(resources={"cpu": "0.5"}, wait=True)
        check = await capped.request("POST", "/v1/resource-presets:check", body={})
        assert check["keypair"]["limits"]["amounts"]["cpu"] == "1"
        assert check["keypair"]["remaining"]["amounts"]["cpu"] == "0.5"
        assert check["remaining"]["amounts"]["cpu"] == "0.5"
        fits = {p["resource_preset"]["name"]: p.get("allocatable", False) for p in check["presets"]}
        assert fits[small["name"]] is True and fits[huge["name"]] is False
        await capped.destroy_session(session["session_id"])
    for preset in (small, huge):
        await client.request("DELETE", f"/v1/resource-presets/{preset['name']}")
