"""The browser login cookie (docs/apps.md): `POST /v1/auth:login` with `set_cookie` sets an
HttpOnly, SameSite=Strict cookie the edge accepts as the bearer credential; logout clears it."""

from __future__ import annotations

import secrets

import httpx
import pytest

from cli.client import ShipyardClient
from services.auth.domain.model import DEFAULT_DOMAIN, DEFAULT_PROJECT

pytestmark = pytest.mark.e2e


async def _user_with_password(platform) -> tuple[str, str]:
    keys = platform.keypair
    email, password = f"c-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
    async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as root:
        projects = await root.request("GET", "/v1/projects", params={"page_size": 1000})
        project = next(p for p in projects["projects"] if p["name"] == DEFAULT_PROJECT)
        await root.request(
            "POST",
            "/v1/users",
            body={
                "user": {"email": email, "domain_name": DEFAULT_DOMAIN, "role": "ROLE_USER"},
                "password": password,
                "project_ids": [project["project_id"]],
            },
        )
    return email, password


async def test_login_cookie_is_a_bearer_credential_and_logout_clears_it(platform):
    email, password = await _user_with_password(platform)
    async with httpx.AsyncClient(base_url=platform.endpoint) as http:
        plain = await http.post("/v1/auth:login", json={"email": email, "password": password})
        assert plain.status_code == 200
        assert "set-cookie" not in plain.headers  # only browsers that ask get a cookie

        login = await http.post(
            "/v1/auth:login", json={"email": email, "password": password, "set_cookie": True}
        )
        assert login.status_code == 200, login.text
        cookie = login.headers["set-cookie"]
        token = login.json()["tokens"]["access_token"]
        assert cookie.startswith(f"shipyard_token={token};")
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        http.cookies.clear()

        me = await http.get("/v1/identity", headers={"cookie": f"shipyard_token={token}"})
        assert me.status_code == 200, me.text
        assert me.json()["identity"]["email"] == email
        forged = await http.get("/v1/identity", headers={"cookie": "shipyard_token=a.b.c"})
        assert forged.status_code == 401
        assert (await http.get("/v1/identity")).status_code == 401

        refresh_token = login.json()["tokens"]["refresh_token"]
        out = await http.post("/v1/auth:logout", json={"refresh_token": refresh_token})
        assert out.status_code == 200
        assert out.headers["set-cookie"].startswith("shipyard_token=;")
        assert "Max-Age=0" in out.headers["set-cookie"]
