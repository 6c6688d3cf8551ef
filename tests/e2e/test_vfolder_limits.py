"""A keypair resource policy's folder limits through the edge: max_vfolder_count stops the next
personal folder (created or cloned), max_vfolder_size becomes the user's quota scope limit and
an upload past it is refused."""

from __future__ import annotations

import secrets

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.tenants import DEFAULT_DOMAIN, DEFAULT_PROJECT

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


async def test_the_keypair_policy_limits_folders(platform: Platform) -> None:
    assert platform.keypair is not None
    keys = platform.keypair
    tag = secrets.token_hex(4)
    async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as root:
        policy = f"two-folders-{tag}"
        await root.request(
            "POST",
            "/v1/resource-policies",
            body={
                "name": policy,
                "default_for_unspecified": "DEFAULT_FOR_UNSPECIFIED_UNLIMITED",
                "max_vfolder_count": 2,
                "max_vfolder_size": 4 * MiB,
            },
        )
        projects = await root.request("GET", "/v1/projects", params={"page_size": 1000})
        project = next(p for p in projects["projects"] if p["name"] == DEFAULT_PROJECT)
        made = await root.request(
            "POST",
            "/v1/users",
            body={
                "user": {
                    "email": f"l-{tag}@example.com",
                    "domain_name": DEFAULT_DOMAIN,
                    "role": "ROLE_USER",
                },
                "password": secrets.token_urlsafe(16),
                "project_ids": [project["project_id"]],
            },
        )
        user_id = made["user"]["user_id"]
        issued = await root.request(
            "POST", f"/v1/users/{user_id}/keypairs", body={"resource_policy": policy}
        )
    access, secret = issued["keypair"]["access_key"], issued["secret_key"]
    async with ShipyardClient(platform.endpoint, access, secret) as c:
        first = await c.create_vfolder(f"one-{tag}")
        await c.create_vfolder(f"two-{tag}")
        with pytest.raises(ApiError) as err:
            await c.create_vfolder(f"three-{tag}")
        assert err.value.status == 429, err.value.body
        assert "VFOLDER_COUNT_LIMIT" in str(err.value.body)
        with pytest.raises(ApiError) as err:
            await c.request(
                "POST",
                f"/v1/vfolders/{first['vfolder_id']}:clone",
                body={"name": f"copy-{tag}"},
            )
        assert "VFOLDER_COUNT_LIMIT" in str(err.value.body)
        scope = await c.request("GET", "/v1/quota-scopes", params={"scope_id": f"user:{user_id}"})
        assert int(scope["quota_scope"]["limit_bytes"]) == 4 * MiB
