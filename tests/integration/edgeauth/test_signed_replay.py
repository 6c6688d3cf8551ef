"""A captured keypair-signed request cannot be used a second time, on REST or native gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from shipyard.auth.v1 import identity_service_pb2 as pb
from shipyard.auth.v1 import identity_service_pb2_grpc as pb_grpc

from cli.grpc_signing import signed_channel
from tests.integration.edgeauth.stack import Stack, edge_stack

pytestmark = pytest.mark.integration

METHOD = "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"


@pytest.fixture(scope="module")
async def stack(auth_db, redis_url, tmp_path_factory) -> AsyncIterator[Stack]:
    async with edge_stack(auth_db, redis_url, tmp_path_factory.mktemp("edge")) as s:
        yield s


async def test_replayed_rest_request_is_refused_with_401(stack):
    client = stack.client()
    captured = client.signed_headers("GET", "/v1/identity", "application/octet-stream")
    await client.close()
    async with httpx.AsyncClient() as http:
        first = await http.get(stack.endpoint + "/v1/identity", headers=captured)
        replay = await http.get(stack.endpoint + "/v1/identity", headers=captured)
    assert first.status_code == 200
    assert replay.status_code == 401
    assert replay.json()["details"][0]["reason"] == "REPLAYED_SIGNATURE"


async def test_replayed_grpc_call_is_unauthenticated(stack):
    client = stack.client()
    captured = client.signed_headers("POST", METHOD, "application/grpc")
    await client.close()
    metadata = [(k.lower(), v) for k, v in captured.items()]
    async with grpc.aio.insecure_channel(stack.grpc_addr) as channel:
        stub = pb_grpc.IdentityServiceStub(channel)
        await stub.GetCurrentIdentity(pb.GetCurrentIdentityRequest(), metadata=metadata, timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetCurrentIdentity(
                pb.GetCurrentIdentityRequest(), metadata=metadata, timeout=5
            )
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "REPLAYED_SIGNATURE" in (info.value.details() or "")


async def test_a_client_that_signs_each_call_is_never_refused(stack):
    kp = stack.auth.keypair
    async with signed_channel(stack.grpc_addr, kp.access_key, kp.secret_key) as channel:
        stub = pb_grpc.IdentityServiceStub(channel)
        for _ in range(20):
            reply = await stub.GetCurrentIdentity(pb.GetCurrentIdentityRequest(), timeout=5)
            assert reply.identity.access_key == kp.access_key
