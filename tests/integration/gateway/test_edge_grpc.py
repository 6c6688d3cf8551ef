"""Native gRPC and gRPC-Web through the edge: routing, authz, internal services refused."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from shipyard.auth.v1 import identity_service_pb2 as ids
from shipyard.auth.v1 import identity_service_pb2_grpc as ids_grpc

from tests.integration.gateway.edge_harness import (
    GOOD_CREDENTIAL,
    INJECTED,
    INTERNAL_TOKEN,
    grpc_web_frame,
    parse_grpc_web,
)

GOOD = (("authorization", GOOD_CREDENTIAL),)
IDENTITY = "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"
INTERNAL_METHODS = [
    "/shipyard.registry.v1.SchedulingService/BindSessions",
    "/shipyard.registry.v1.AgentRegistryService/Heartbeat",
    "/shipyard.storage.v1.MountService/ResolveMounts",
    "/shipyard.agent.v1.KernelService/CreateKernels",
    "/shipyard.auth.v1.PolicyService/ResolveSessionPolicy",
    "/shipyard.auth.v1.AuditRecordService/RecordAuditEvent",
    "/shipyard.registry.v1.SessionAdminService/TerminateSessionsOfOwners",
]


@pytest.fixture
async def channel(edge_addr):
    async with grpc.aio.insecure_channel(edge_addr) as ch:
        yield ch


async def test_native_grpc_call_reaches_the_service_with_identity(channel, recorder):
    stub = ids_grpc.IdentityServiceStub(channel)

    response = await stub.GetCurrentIdentity(ids.GetCurrentIdentityRequest(), metadata=GOOD)

    assert response.identity.user_id == "user-1"
    received = recorder.only_call()
    assert received.metadata["x-shipyard-internal-token"] == INTERNAL_TOKEN
    assert {k: received.metadata[k] for k in INJECTED} == INJECTED


async def test_native_grpc_without_credentials_is_unauthenticated(channel, recorder):
    stub = ids_grpc.IdentityServiceStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCurrentIdentity(ids.GetCurrentIdentityRequest())

    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == "missing or invalid credentials"
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("method", "upstream"),
    [
        ("/shipyard.registry.v1.SessionService/ListSessions", "registry"),
        ("/shipyard.registry.v1.ClusterService/ListAgents", "registry"),
        ("/shipyard.scheduler.v1.SchedulerService/ListPendingSessions", "scheduler"),
        ("/shipyard.storage.v1.VFolderService/ListVFolders", "storage"),
    ],
)
async def test_public_services_are_routed_to_their_upstream(channel, recorder, method, upstream):
    await channel.unary_unary(method)(b"", metadata=GOOD)

    assert recorder.methods(upstream) == [method]


@pytest.mark.parametrize("method", INTERNAL_METHODS)
async def test_internal_services_are_not_routable(channel, recorder, method):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary(method)(b"", metadata=GOOD)

    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert caught.value.details() == "no such route"  # plain text for gRPC callers
    assert recorder.calls == []


@pytest.mark.parametrize("method", INTERNAL_METHODS)
async def test_internal_services_are_not_routable_as_json(http, recorder, method):
    response = await http.post(method, json={}, headers={"authorization": GOOD_CREDENTIAL})

    assert response.status_code == 404
    assert response.json()["code"] == 5
    assert recorder.calls == []


async def test_health_needs_no_credentials_and_strips_identity(channel, recorder):
    stub = health_pb2_grpc.HealthStub(channel)

    response = await stub.Check(
        health_pb2.HealthCheckRequest(), metadata=(("x-shipyard-user-id", "spoofed"),)
    )

    assert response.status == health_pb2.HealthCheckResponse.SERVING
    assert recorder.checks == []
    received = recorder.only_call()
    assert received.upstream == "registry"
    assert "x-shipyard-user-id" not in received.metadata


async def test_grpc_web_call(http, recorder):
    response = await http.post(
        IDENTITY,
        content=grpc_web_frame(ids.GetCurrentIdentityRequest().SerializeToString()),
        headers={
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
            "authorization": GOOD_CREDENTIAL,
        },
    )

    assert response.status_code == 200
    messages, trailers = parse_grpc_web(response.content)
    assert trailers["grpc-status"] == "0"
    (message,) = messages
    assert ids.GetCurrentIdentityResponse.FromString(message).identity.access_key == "AKTEST"
    assert recorder.only_call().metadata["x-shipyard-internal-token"] == INTERNAL_TOKEN


async def test_grpc_web_without_credentials_is_401_with_grpc_status(http):
    response = await http.post(
        IDENTITY,
        content=grpc_web_frame(b""),
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
    )

    assert response.status_code == 401
    assert response.headers["grpc-status"] == "16"
    assert response.headers["grpc-message"] == "missing or invalid credentials"
