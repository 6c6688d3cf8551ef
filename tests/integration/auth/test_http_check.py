"""Auth's HTTP Check (what the edge calls by default) over real sockets, PostgreSQL and Redis:
the same decisions as the gRPC Check, replicas sharing the replay cache and the rate limit."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from libs.core.check_paths import CHECK_PREFIX, HEALTH_PATH
from libs.core.identity import HEADER_ACCESS_KEY, HEADER_EMAIL, HEADER_ROLE, HEADER_USER_ID
from services.auth.app import AuthServer
from tests.integration.auth.admin_client import connect, system_metadata
from tests.integration.auth.tenants import (
    build_world,
    deactivate_keypair,
    issue_keypair,
    set_rate_limit,
    superadmin,
)
from tests.integration.auth.test_server import check, signed_check

pytestmark = pytest.mark.integration

Signed = tuple[str, dict[str, str]]


def _signed(access_key: str, secret_key: str, path: str = "/v1/identity") -> Signed:
    """A signed request as Envoy forwards it: its path, Host and signature headers."""
    request = signed_check(access_key, secret_key, path=path)
    return path, dict(request.attributes.request.http.headers)


def _base(server: AuthServer) -> str:
    return f"http://127.0.0.1:{server.authz_port}"


async def _http_check(servers: list[AuthServer], requests: list[Signed]) -> list[httpx.Response]:
    """The requests at once, alternating between the servers; answers in request order."""
    async with httpx.AsyncClient(timeout=5) as client:
        return list(
            await asyncio.gather(
                *(
                    client.get(
                        f"{_base(servers[i % len(servers)])}{CHECK_PREFIX}{path}",
                        headers=headers,
                    )
                    for i, (path, headers) in enumerate(requests)
                )
            )
        )


def _reason(response: httpx.Response) -> str | None:
    if response.status_code == 200:
        return None
    return str(response.json()["details"][0]["reason"])


async def test_a_signed_request_is_allowed_with_the_identity_headers(auth_server, unique_email):
    kp = auth_server.keypair
    [response] = await _http_check([auth_server], [_signed(kp.access_key, kp.secret_key)])
    assert response.status_code == 200
    assert response.headers[HEADER_ACCESS_KEY] == kp.access_key
    assert response.headers[HEADER_ROLE] == "superadmin"
    assert response.headers[HEADER_EMAIL] == unique_email
    assert response.headers[HEADER_USER_ID]
    assert "authorization" in response.headers["x-envoy-auth-headers-to-remove"].split(",")
    assert response.headers["x-ratelimit-limit"]


async def test_the_health_path_answers_and_only_prefixed_paths_are_checks(auth_server):
    kp = auth_server.keypair
    path, headers = _signed(kp.access_key, kp.secret_key)
    async with httpx.AsyncClient(timeout=5) as client:
        health = await client.get(_base(auth_server) + HEALTH_PATH)
        # A signed request without the edge's prefix is no Check: never admitted.
        bare = await client.get(_base(auth_server) + path, headers=headers)
        # A client's own request for the health path is a Check like any other: refused unsigned.
        probe_through_edge = await client.get(_base(auth_server) + CHECK_PREFIX + HEALTH_PATH)
    assert health.status_code == 200
    assert bare.status_code == 404 and HEADER_ACCESS_KEY not in bare.headers
    assert probe_through_edge.status_code == 401


async def test_a_bad_signature_gets_the_grpc_checks_denial(auth_server):
    kp = auth_server.keypair
    path, headers = _signed(kp.access_key, "w" * 40)
    [response] = await _http_check([auth_server], [(path, headers)])
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert _reason(response) == "INVALID_SIGNATURE"
    same = await check(auth_server, signed_check(kp.access_key, "w" * 40))
    assert response.json() == json.loads(same.denied_response.body)


async def test_a_grpc_caller_is_denied_with_its_grpc_status(auth_server):
    kp = auth_server.keypair
    path, headers = _signed(kp.access_key, "w" * 40)
    headers["content-type"] = "application/grpc"
    [response] = await _http_check([auth_server], [(path, headers)])
    assert response.status_code == 401
    assert response.headers["grpc-status"] == "16"
    assert "INVALID_SIGNATURE" in response.text


async def test_a_signed_request_is_admitted_once_across_replicas(replicas):
    kp = replicas[0].keypair
    responses = await _http_check(list(replicas), [_signed(kp.access_key, kp.secret_key)] * 16)
    reasons = [_reason(r) for r in responses]
    assert reasons.count(None) == 1
    assert reasons.count("REPLAYED_SIGNATURE") == 15


async def test_the_rate_limit_holds_across_replicas(replicas, migrated_url):
    kp = replicas[0].keypair
    await set_rate_limit(migrated_url, kp.access_key, 5)
    requests = [_signed(kp.access_key, kp.secret_key, f"/v1/identity?n={i}") for i in range(12)]
    responses = await _http_check(list(replicas), requests)
    reasons = [_reason(r) for r in responses]
    assert reasons.count(None) == 5
    assert reasons.count("RATE_LIMIT_EXCEEDED") == 7
    refused = next(r for r in responses if _reason(r))
    assert refused.status_code == 429
    assert (refused.headers["x-ratelimit-limit"], refused.headers["x-ratelimit-remaining"]) == (
        "5",
        "0",
    )


async def test_a_revoked_keypair_is_refused_by_both_replicas(
    replicas, internal_token, unique_email
):
    async with connect(replicas[0].port, system_metadata(internal_token)) as system:
        world = await build_world(
            await superadmin(system, internal_token, unique_email), internal_token
        )
        issued = await issue_keypair(world, world.user_a)
        key, secret = issued.keypair.access_key, issued.secret_key

        def distinct(count: int) -> list[Signed]:
            return [
                _signed(key, secret, f"/v1/identity?r={time.time_ns()}-{i}") for i in range(count)
            ]

        before = await _http_check(list(replicas), distinct(2))
        assert [_reason(r) for r in before] == [None, None]
        await deactivate_keypair(world, world.user_a, key)
    started = time.monotonic()
    while True:
        after = await _http_check(list(replicas), distinct(8))
        if all(_reason(r) == "INACTIVE_KEYPAIR" for r in after):
            break
        assert time.monotonic() - started < 1.0, [_reason(r) for r in after]
        await asyncio.sleep(0.02)
