"""Password login and bearer tokens through a real Envoy edge (jwt_authn), auth, PostgreSQL and
Redis: REST, native gRPC and gRPC-Web; forged and expired tokens; refresh, logout, revocation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from shipyard.auth.v1 import identity_service_pb2 as pb
from shipyard.auth.v1 import identity_service_pb2_grpc as pb_grpc

from libs.core.identity import Caller, Role
from services.auth.adapters.access_tokens import Es256Signer, load_or_create_key
from tests.integration.edgeauth.stack import LoginUser, Stack, add_user, deactivate, edge_stack
from tests.integration.gateway.edge_harness import grpc_web_frame, parse_grpc_web

pytestmark = pytest.mark.integration

METHOD = "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"
BEARER_LIMIT = 8


@pytest.fixture(scope="module")
async def stack(auth_db, redis_url, tmp_path_factory) -> AsyncIterator[Stack]:
    run_dir = tmp_path_factory.mktemp("edge")
    async with edge_stack(
        auth_db, redis_url, run_dir, edge={"bearer_rate_limit": BEARER_LIMIT}
    ) as s:
        yield s


@pytest.fixture
async def http(stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.endpoint, timeout=10) as client:
        yield client


@pytest.fixture
async def user(stack) -> LoginUser:
    return await add_user(stack, password="correct horse battery")


async def login(http: httpx.AsyncClient, user: LoginUser) -> dict[str, str]:
    reply = await http.post("/v1/auth:login", json={"email": user.email, "password": user.password})
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["tokens"])


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}


async def test_login_then_bearer_works_on_rest(http, user):
    tokens = await login(http, user)
    assert tokens["token_type"] == "Bearer"
    assert tokens["need_password_change"] is False
    expires = datetime.fromisoformat(tokens["access_token_expire_time"].replace("Z", "+00:00"))
    assert expires - datetime.now(UTC) <= timedelta(minutes=5)
    reply = await http.get("/v1/identity", headers=bearer(tokens))
    assert reply.status_code == 200, reply.text
    identity = reply.json()["identity"]
    assert identity["user_id"] == user.user_id
    assert identity["email"] == user.email
    assert identity["access_key"] == user.access_key
    assert identity["role"] == "ROLE_USER"
    assert identity["project_ids"] == [user.project_id]
    # Envoy's own per-user limit reports itself too.
    assert reply.headers["x-ratelimit-limit"].startswith(str(BEARER_LIMIT))


async def test_bearer_works_on_native_grpc(stack, http, user):
    tokens = await login(http, user)
    async with grpc.aio.insecure_channel(stack.grpc_addr) as channel:
        reply = await pb_grpc.IdentityServiceStub(channel).GetCurrentIdentity(
            pb.GetCurrentIdentityRequest(), metadata=list(bearer(tokens).items()), timeout=5
        )
    assert reply.identity.user_id == user.user_id
    assert reply.identity.access_key == user.access_key


async def test_bearer_works_on_grpc_web(http, user):
    tokens = await login(http, user)
    headers = {**bearer(tokens), "content-type": "application/grpc-web+proto", "x-grpc-web": "1"}
    body = grpc_web_frame(pb.GetCurrentIdentityRequest().SerializeToString())
    reply = await http.post(METHOD, headers=headers, content=body)
    assert reply.status_code == 200
    messages, trailers = parse_grpc_web(reply.content)
    assert trailers.get("grpc-status", reply.headers.get("grpc-status")) == "0"
    assert pb.GetCurrentIdentityResponse.FromString(messages[0]).identity.email == user.email


async def test_token_signed_by_another_key_is_refused(http, user):
    forger = Es256Signer(ec.generate_private_key(ec.SECP256R1()), ttl=timedelta(minutes=5))
    caller = Caller(user_id=user.user_id, role=Role.SUPERADMIN, email=user.email)
    token = forger.issue(caller, now=datetime.now(UTC)).token
    reply = await http.get("/v1/identity", headers={"authorization": f"Bearer {token}"})
    assert reply.status_code == 401
    assert reply.json()["code"] == 16


async def test_expired_token_is_refused_on_rest_and_grpc(stack, http, user):
    signer = Es256Signer(
        load_or_create_key(stack.edge.run_dir / "token-key.pem"), ttl=timedelta(minutes=5)
    )
    caller = Caller(user_id=user.user_id, email=user.email)
    stale = signer.issue(caller, now=datetime.now(UTC) - timedelta(minutes=10)).token
    headers = {"authorization": f"Bearer {stale}"}
    reply = await http.get("/v1/identity", headers=headers)
    assert reply.status_code == 401
    assert "expired" in reply.json()["message"].lower()
    async with grpc.aio.insecure_channel(stack.grpc_addr) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.IdentityServiceStub(channel).GetCurrentIdentity(
                pb.GetCurrentIdentityRequest(), metadata=list(headers.items()), timeout=5
            )
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_wrong_password_and_unknown_email_get_the_same_401(http, user):
    wrong = await http.post("/v1/auth:login", json={"email": user.email, "password": "nope"})
    unknown = await http.post(
        "/v1/auth:login", json={"email": "nobody@example.com", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["details"][0]["reason"] == "INVALID_CREDENTIALS"
    assert wrong.json()["message"] == unknown.json()["message"]


async def test_login_with_an_empty_password_names_the_field(http, user):
    reply = await http.post("/v1/auth:login", json={"email": user.email, "password": ""})
    assert reply.status_code == 400
    assert "password" in reply.json()["message"]


async def test_refresh_rotates_and_logout_revokes(http, user):
    tokens = await login(http, user)
    refreshed = await http.post("/v1/auth:refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    new = refreshed.json()["tokens"]
    assert (await http.get("/v1/identity", headers=bearer(new))).status_code == 200
    reused = await http.post("/v1/auth:refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json()["details"][0]["reason"] == "INVALID_REFRESH_TOKEN"
    out = await http.post("/v1/auth:logout", json={"refresh_token": new["refresh_token"]})
    assert out.status_code == 200
    after = await http.post("/v1/auth:refresh", json={"refresh_token": new["refresh_token"]})
    assert after.status_code == 401


async def test_deactivated_user_cannot_refresh_nor_log_in(stack, http, user):
    tokens = await login(http, user)
    await deactivate(stack, user.user_id)
    refreshed = await http.post("/v1/auth:refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    assert refreshed.json()["details"][0]["reason"] == "INACTIVE_USER"
    again = await http.post("/v1/auth:login", json={"email": user.email, "password": user.password})
    assert again.status_code == 401


async def test_change_password_clears_the_flag_and_revokes_refresh_tokens(stack, http):
    user = await add_user(stack, password="first password", need_password_change=True)
    tokens = await login(http, user)
    assert tokens["need_password_change"] is True
    changed = await http.post(
        "/v1/auth:changePassword",
        headers=bearer(tokens),
        json={"current_password": user.password, "new_password": "second password"},
    )
    assert changed.status_code == 200, changed.text
    old = await http.post("/v1/auth:login", json={"email": user.email, "password": user.password})
    assert old.status_code == 401
    fresh = await http.post(
        "/v1/auth:login", json={"email": user.email, "password": "second password"}
    )
    assert fresh.json()["tokens"]["need_password_change"] is False
    stale = await http.post("/v1/auth:refresh", json={"refresh_token": tokens["refresh_token"]})
    assert stale.status_code == 401


async def test_change_password_needs_a_credential(http):
    reply = await http.post(
        "/v1/auth:changePassword",
        json={"current_password": "whatever", "new_password": "whatever else"},
    )
    assert reply.status_code == 401


async def test_bearer_requests_over_the_edge_limit_get_429_json(http, user):
    tokens = await login(http, user)
    codes = [
        (await http.get("/v1/identity", headers=bearer(tokens))).status_code
        for _ in range(BEARER_LIMIT + 1)
    ]
    assert codes == [200] * BEARER_LIMIT + [429]
    refused = await http.get("/v1/identity", headers=bearer(tokens))
    assert refused.status_code == 429
    assert refused.json()["code"] == 8
    assert refused.headers["x-ratelimit-remaining"] == "0"


async def test_each_bearer_user_has_their_own_bucket(stack, http):
    first = await login(http, await add_user(stack, password="pw one two"))
    for _ in range(BEARER_LIMIT):
        await http.get("/v1/identity", headers=bearer(first))
    assert (await http.get("/v1/identity", headers=bearer(first))).status_code == 429
    second = await login(http, await add_user(stack, password="pw three four"))
    assert (await http.get("/v1/identity", headers=bearer(second))).status_code == 200


async def test_login_attempts_are_limited_per_client_address(auth_db, redis_url, tmp_path):
    edge = {"login_rate_limit": 3}
    async with (
        edge_stack(auth_db, redis_url, tmp_path, edge=edge) as small,
        httpx.AsyncClient(base_url=small.endpoint) as client,
    ):
        body = {"email": "nobody@example.com", "password": "guess"}
        codes = [(await client.post("/v1/auth:login", json=body)).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        # Calls that need a credential are not counted against the login budget.
        assert (await client.get("/v1/identity")).status_code == 401


async def test_deactivated_users_token_stops_working_when_it_expires(auth_db, redis_url, tmp_path):
    # A 2-second token and 1 s of clock-skew leeway, so its end can be watched.
    async with (
        edge_stack(
            auth_db,
            redis_url,
            tmp_path,
            auth={"access_token_ttl": 2.0},
            edge={"bearer_clock_skew_seconds": 1},
        ) as short,
        httpx.AsyncClient(base_url=short.endpoint) as client,
    ):
        victim = await add_user(short, password="short lived token")
        tokens = await login(client, victim)
        await deactivate(short, victim.user_id)
        # Verified inside Envoy: the token is honoured until it expires, never after.
        expires = datetime.fromisoformat(tokens["access_token_expire_time"].replace("Z", "+00:00"))
        assert (await client.get("/v1/identity", headers=bearer(tokens))).status_code == 200
        # exp + 1 s skew + Envoy's coarse clock (it was seen to honour a token ~2 s longer).
        await asyncio.sleep((expires - datetime.now(UTC)).total_seconds() + 4)
        reply = await client.get("/v1/identity", headers=bearer(tokens))
        assert reply.status_code == 401
        assert "expired" in reply.json()["message"].lower()


async def test_every_login_attempt_is_in_the_audit_log(stack, http, user):
    await http.post("/v1/auth:login", json={"email": user.email, "password": "not it"})
    await login(http, user)
    async with stack.client() as admin:
        reply = await admin.request(
            "GET", "/v1/audit-events", params={"action": "auth.login", "target_id": user.user_id}
        )
        refused = await admin.request(
            "GET", "/v1/audit-events", params={"action": "auth.login", "target_id": user.email}
        )
    (ok,) = reply["events"]
    assert ok["outcome"] == "AUDIT_OUTCOME_SUCCESS"
    assert ok["actor_email"] == user.email
    assert ok["actor_access_key"] == user.access_key
    assert ok["client_address"]
    assert ok["trace_id"]
    (bad,) = refused["events"]
    assert bad["outcome"] == "AUDIT_OUTCOME_DENIED"
    assert bad["detail"] == "INVALID_CREDENTIALS"
