"""Check on two auth replicas at once, with concurrent Checks sharing Redis round trips: a
signature is admitted once across both, the rate limit holds across both, and a revoked keypair
is refused by both. Real PostgreSQL, Redis and gRPC."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest
from envoy_ext_authz.v3 import external_auth_pb2 as authz
from envoy_ext_authz.v3 import external_auth_pb2_grpc as authz_grpc

from services.auth.app import AuthServer
from tests.integration.auth.admin_client import connect, system_metadata
from tests.integration.auth.tenants import (
    build_world,
    deactivate_keypair,
    issue_keypair,
    set_rate_limit,
    superadmin,
)
from tests.integration.auth.test_server import signed_check

pytestmark = pytest.mark.integration


async def _check_all(
    replicas: tuple[AuthServer, AuthServer], requests: list[authz.CheckRequest]
) -> list[authz.CheckResponse]:
    """The requests at once, alternating between the replicas; responses in request order."""
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{replicas[0].port}") as one,
        grpc.aio.insecure_channel(f"127.0.0.1:{replicas[1].port}") as two,
    ):
        stubs = [authz_grpc.AuthorizationStub(one), authz_grpc.AuthorizationStub(two)]
        return list(
            await asyncio.gather(
                *(stubs[i % 2].Check(request, timeout=5) for i, request in enumerate(requests))
            )
        )


def _distinct(access_key: str, secret_key: str, count: int) -> list[authz.CheckRequest]:
    """Signed requests of distinct paths: distinct signatures, none of them a replay."""
    return [signed_check(access_key, secret_key, path=f"/v1/identity?n={i}") for i in range(count)]


def _reason(response: authz.CheckResponse) -> str | None:
    if not response.HasField("denied_response"):
        return None
    return str(json.loads(response.denied_response.body)["details"][0]["reason"])


async def test_a_signed_request_is_admitted_once_across_replicas(replicas):
    kp = replicas[0].keypair
    request = signed_check(kp.access_key, kp.secret_key)
    responses = await _check_all(replicas, [request] * 16)
    reasons = [_reason(r) for r in responses]
    assert reasons.count(None) == 1
    assert reasons.count("REPLAYED_SIGNATURE") == 15
    assert {r.denied_response.status.code for r in responses if _reason(r)} == {401}


async def test_the_rate_limit_holds_across_replicas(replicas, migrated_url):
    kp = replicas[0].keypair
    await set_rate_limit(migrated_url, kp.access_key, 5)
    responses = await _check_all(replicas, _distinct(kp.access_key, kp.secret_key, 12))
    reasons = [_reason(r) for r in responses]
    assert reasons.count(None) == 5
    assert reasons.count("RATE_LIMIT_EXCEEDED") == 7
    refused = next(r for r in responses if _reason(r))
    assert refused.denied_response.status.code == 429
    headers = {h.header.key: h.header.value for h in refused.denied_response.headers}
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("5", "0")


async def test_a_revoked_keypair_is_refused_by_both_replicas(
    replicas, internal_token, unique_email
):
    async with connect(replicas[0].port, system_metadata(internal_token)) as system:
        world = await build_world(
            await superadmin(system, internal_token, unique_email), internal_token
        )
        issued = await issue_keypair(world, world.user_a)
        key, secret = issued.keypair.access_key, issued.secret_key
        # Both replicas verify (and cache) the keypair first.
        before = await _check_all(replicas, _distinct(key, secret, 2))
        assert [_reason(r) for r in before] == [None, None]
        await deactivate_keypair(world, world.user_a, key)
    # Revocation reaches the other replica through Redis pub/sub within a second.
    started = time.monotonic()
    while True:
        after = await _check_all(replicas, _distinct(key, secret, 8))
        if all(_reason(r) == "INACTIVE_KEYPAIR" for r in after):
            break
        assert time.monotonic() - started < 1.0, [_reason(r) for r in after]
        await asyncio.sleep(0.02)
