"""A keypair-signed REST `GET /v1/identity` is answered by the edge from auth's Check, with the
body the RPC would give, whichever Check transport; a client cannot supply that answer itself."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from cli.client import ShipyardClient
from libs.core.identity import Role
from libs.core.identity_reply import HEADER_IDENTITY_REPLY, encode_reply
from tests.integration.edgeauth.stack import LoginUser, Stack, add_user, edge_stack

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
ROLES = (Role.USER, Role.ADMIN, Role.SUPERADMIN)
# What a client would like the edge to answer for it.
FORGED_BODY = json.dumps(
    {
        "identity": {
            "user_id": "00000000-0000-0000-0000-000000000000",
            "access_key": "AKFORGED",
            "role": "ROLE_SUPERADMIN",
            "domain_name": "default",
            "project_ids": [],
            "email": "root@example.com",
        }
    }
)
FORGED = {HEADER_IDENTITY_REPLY: encode_reply(FORGED_BODY)}


@pytest.fixture(scope="module", params=["http", "grpc"])
async def stack(request, auth_db, redis_url, tmp_path_factory) -> AsyncIterator[Stack]:
    run_dir = tmp_path_factory.mktemp("edge")
    async with edge_stack(auth_db, redis_url, run_dir, edge={"authz": request.param}) as s:
        yield s


@pytest.fixture
async def http(stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.endpoint, timeout=10) as client:
        yield client


async def signed_get(
    http: httpx.AsyncClient, client: ShipyardClient, extra: dict[str, str] | None = None
) -> httpx.Response:
    try:
        headers = client.signed_headers("GET", "/v1/identity", "application/octet-stream")
    finally:
        await client.close()
    return await http.get("/v1/identity", headers={**headers, **(extra or {})})


async def bearer_token(http: httpx.AsyncClient, user: LoginUser) -> str:
    login = await http.post("/v1/auth:login", json={"email": user.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["tokens"]["access_token"])


async def bearer_get(
    http: httpx.AsyncClient, token: str, extra: dict[str, str] | None = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}", **(extra or {})}
    return await http.get("/v1/identity", headers=headers)


async def calls_into_auth(stack: Stack) -> int:
    """Requests the edge sent on its gRPC `auth` cluster (RPCs, and gRPC Checks)."""
    async with httpx.AsyncClient() as admin:
        stats = (await admin.get(f"{stack.edge.admin_url}/stats?format=json")).json()["stats"]
    name = "cluster.auth.upstream_rq_total"
    return int(next((s["value"] for s in stats if s.get("name") == name), 0))


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
async def test_each_signed_caller_gets_the_body_its_bearer_call_gets(stack, http, role):
    user = await add_user(stack, password=PASSWORD, role=role)
    signed = await signed_get(http, user.client(stack))
    through_auth = await bearer_get(http, await bearer_token(http, user))
    assert signed.status_code == through_auth.status_code == 200, signed.text
    assert signed.content == through_auth.content
    assert signed.headers["content-type"] == through_auth.headers["content-type"]
    identity = signed.json()["identity"]
    assert identity["user_id"] == user.user_id
    assert identity["access_key"] == user.access_key
    assert identity["role"] == f"ROLE_{role.value.upper()}"
    assert identity["email"] == user.email
    assert identity["project_ids"] == [user.project_id]
    assert HEADER_IDENTITY_REPLY not in signed.headers
    # The Check's rate-limit headers still reach the client.
    assert int(signed.headers["x-ratelimit-remaining"]) >= 0


async def test_a_signed_identity_call_makes_no_second_call_into_auth(stack, http, request):
    user = await add_user(stack, password=PASSWORD)
    before = await calls_into_auth(stack)
    for _ in range(3):
        assert (await signed_get(http, user.client(stack))).status_code == 200
    # Over gRPC the Check itself travels on that cluster: one call each, not two.
    checks_on_it = 3 if request.node.callspec.params["stack"] == "grpc" else 0
    assert await calls_into_auth(stack) - before == checks_on_it
    # A bearer caller still asks auth's GetCurrentIdentity.
    token = await bearer_token(http, user)
    before = await calls_into_auth(stack)
    assert (await bearer_get(http, token)).status_code == 200
    assert await calls_into_auth(stack) - before == 1


async def test_a_client_sent_identity_reply_is_ignored(stack, http):
    user = await add_user(stack, password=PASSWORD)
    signed = await signed_get(http, user.client(stack), FORGED)
    by_token = await bearer_get(http, await bearer_token(http, user), FORGED)
    for reply in (signed, by_token):
        assert reply.status_code == 200, reply.text
        assert reply.json()["identity"]["user_id"] == user.user_id
        assert reply.json()["identity"]["role"] == "ROLE_USER"
    unsigned = await http.get("/v1/identity", headers=FORGED)
    assert unsigned.status_code == 401
    stranger = ShipyardClient(stack.endpoint, "AKNOSUCHKEY000000000", secrets.token_hex(20))
    refused = await signed_get(http, stranger, FORGED)
    assert refused.status_code == 401
    wrong_secret = ShipyardClient(stack.endpoint, user.access_key, secrets.token_hex(20))
    assert (await signed_get(http, wrong_secret, FORGED)).status_code == 401


async def test_a_revoked_keypair_is_refused(stack, http):
    user = await add_user(stack, password=PASSWORD)
    assert (await signed_get(http, user.client(stack))).status_code == 200
    async with stack.client() as admin:
        await admin.request("DELETE", f"/v1/users/{user.user_id}/keypairs/{user.access_key}")
    # Revocation reaches the Check's keypair cache through Redis pub/sub.
    for _ in range(50):
        refused = await signed_get(http, user.client(stack), FORGED)
        if refused.status_code != 200:
            break
        await asyncio.sleep(0.1)
    assert refused.status_code == 401, refused.text
    assert user.user_id not in refused.text
