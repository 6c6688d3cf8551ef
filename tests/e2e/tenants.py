"""Ordinary users for e2e tests, made the way an administrator makes them (the admin API)."""

from __future__ import annotations

import secrets

from cli.client import ShipyardClient
from cli.platform import Platform
from services.auth.domain.model import DEFAULT_DOMAIN, DEFAULT_PROJECT, Keypair


def client_for(platform: Platform, keys: Keypair) -> ShipyardClient:
    """A client of the edge that signs with `keys`."""
    return ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key)


async def ordinary_user(platform: Platform, email: str = "") -> Keypair:
    """A user (role user, not an admin) in the default project, with a fresh keypair."""
    assert platform.keypair is not None
    keys = platform.keypair
    email = email or f"u-{secrets.token_hex(4)}@example.com"
    async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as root:
        projects = await root.request("GET", "/v1/projects", params={"page_size": 1000})
        project = next(p for p in projects["projects"] if p["name"] == DEFAULT_PROJECT)
        user = (
            await root.request(
                "POST",
                "/v1/users",
                body={
                    "user": {"email": email, "domain_name": DEFAULT_DOMAIN, "role": "ROLE_USER"},
                    "password": secrets.token_urlsafe(16),
                    "project_ids": [project["project_id"]],
                },
            )
        )["user"]
        issued = await root.request("POST", f"/v1/users/{user['user_id']}/keypairs", body={})
    return Keypair(access_key=issued["keypair"]["access_key"], secret_key=issued["secret_key"])


async def domain_admin(platform: Platform) -> Keypair:
    """The admin (role admin) of a fresh domain of its own, with a project and a keypair."""
    assert platform.keypair is not None
    keys = platform.keypair
    domain = f"d-{secrets.token_hex(4)}"
    async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as root:
        await root.request("POST", "/v1/domains", body={"name": domain})
        project = (
            await root.request("POST", "/v1/projects", body={"domain_name": domain, "name": "p"})
        )["project"]
        user = (
            await root.request(
                "POST",
                "/v1/users",
                body={
                    "user": {
                        "email": f"admin-{secrets.token_hex(4)}@{domain}.example.com",
                        "domain_name": domain,
                        "role": "ROLE_ADMIN",
                    },
                    "password": secrets.token_urlsafe(16),
                    "project_ids": [project["project_id"]],
                },
            )
        )["user"]
        issued = await root.request("POST", f"/v1/users/{user['user_id']}/keypairs", body={})
    return Keypair(access_key=issued["keypair"]["access_key"], secret_key=issued["secret_key"])
