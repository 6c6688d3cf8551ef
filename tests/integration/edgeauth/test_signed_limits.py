"""Keypair-signed requests through a real Envoy edge: rate limit headers, 429, replay refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from shipyard.auth.v1 import identity_service_pb2 as pb
from shipyard.auth.v1 import identity_service_pb2_grpc as pb_grpc

from cli.grpc_signing import signed_channel
from tests.integration.edgeauth.stack import LoginUser, Stack, add_user, edge_stack

pytestmark = pytest.mark.integration

LIMIT = 4


@pytest.fixture(scope="module")
async def stack(auth_db, redis_url, tmp_path_factory) -> AsyncIterator[Stack]:
    run_dir = tmp_path_factory.mktemp("edge")
    async with edge_stack(auth_db, redis_url, run_dir) as s:
        yield s


@pytest.fixture(scope="module")
async def limited(stack) -> LoginUser:
    """A user whose keypair may make LIMIT requests per window (the keypair's rate_limit)."""
    return await add_user(stack, password="limited user 1", rate_limit=LIMIT)


async def test_rate_limit_headers_then_429_with_json_body(stack, limited):
    client = limited.client(stack)
    replies = []
    async with httpx.AsyncClient() as http:
        for _ in range(LIMIT + 1):
            headers = client.signed_headers("GET", "/v1/identity", "application/octet-stream")
            replies.append(await http.get(stack.endpoint + "/v1/identity", headers=headers))
    await client.close()
    assert [r.status_code for r in replies] == [200] * LIMIT + [429]
    assert replies[0].json()["identity"]["access_key"] == limited.access_key
    remaining = [r.headers["x-ratelimit-remaining"] for r in replies]
    assert remaining == [str(n) for n in range(LIMIT - 1, -1, -1)] + ["0"]
    for reply in replies:
        assert reply.headers["x-ratelimit-limit"] == str(LIMIT)
        assert reply.headers["x-ratelimit-window"] == "900"
    refused = replies[-1]
    assert refused.headers["content-type"] == "application/json"
    body = refused.json()
    assert body["code"] == 8
    assert body["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert "4 requests per 900 s" in body["message"]


async def test_grpc_call_over_the_limit_is_resource_exhausted(stack, limited):
    # The REST test above used up this keypair's window; every signed call is now refused.
    async with signed_channel(stack.grpc_addr, limited.access_key, limited.secret_key) as channel:
        stub = pb_grpc.IdentityServiceStub(channel)
        call = stub.GetCurrentIdentity(pb.GetCurrentIdentityRequest(), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "RATE_LIMIT_EXCEEDED" in (info.value.details() or "")
