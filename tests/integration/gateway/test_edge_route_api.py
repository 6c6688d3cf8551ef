"""The edge's internal route API (EdgeRouteService) against the real Envoy: routes added and
removed live, bad routes refused naming the field, and only Shipyard services may call it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from shipyard.gateway.v1 import edge_route_service_pb2 as routes_pb
from shipyard.gateway.v1 import edge_route_service_pb2_grpc as routes_grpc

from gateway.launcher import EnvoyEdge
from gateway.xds import types as t
from libs.grpcutil.client import internal_channel
from tests.integration.gateway.edge_harness import INTERNAL_TOKEN, FakeUpstreams, edge_settings
from tests.integration.gateway.xds_harness import APP_METHOD, answers, call, eventually


@pytest.fixture
async def routed_edge(upstreams: FakeUpstreams, tmp_path: Path) -> AsyncIterator[EnvoyEdge]:
    settings = edge_settings(upstreams.addrs, tmp_path, route_api_addr="127.0.0.1:0")
    async with EnvoyEdge(settings) as edge:
        yield edge


async def test_route_api_adds_and_removes_a_route_live(routed_edge, replicas):
    addr = f"127.0.0.1:{routed_edge.listen_port}"
    api = f"127.0.0.1:{routed_edge.route_api_port}"
    async with internal_channel(api, INTERNAL_TOKEN) as channel:
        stub = routes_grpc.EdgeRouteServiceStub(channel)
        added = await stub.AddRoute(
            routes_pb.AddRouteRequest(
                name="app-7", prefix="/demo.v1.Echo/", backends=[replicas[1].addr]
            )
        )
        await eventually(lambda: answers(addr, {"r1"}))
        again = await stub.AddRoute(
            routes_pb.AddRouteRequest(
                name="app-7", prefix="/demo.v1.Echo/", backends=[replicas[1].addr]
            )
        )
        assert again.version == added.version  # idempotent: nothing new pushed

        removed = await stub.RemoveRoute(routes_pb.RemoveRouteRequest(name="app-7"))
        assert removed.removed
        assert not (await stub.RemoveRoute(routes_pb.RemoveRouteRequest(name="app-7"))).removed

    async def gone() -> bool:
        return await call(addr, APP_METHOD) == grpc.StatusCode.UNIMPLEMENTED

    await eventually(gone)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (
            routes_pb.AddRouteRequest(name="a", prefix="/v1/sessions/", backends=["127.0.0.1:1"]),
            "prefix",
        ),
        (routes_pb.AddRouteRequest(name="a", prefix="/apps/a/", backends=[]), "backends"),
        (
            routes_pb.AddRouteRequest(name="a b", prefix="/apps/a/", backends=["127.0.0.1:1"]),
            "name",
        ),
        (routes_pb.AddRouteRequest(name="a", prefix="/apps/a/", backends=["nowhere"]), "backends"),
    ],
)
async def test_route_api_refuses_bad_routes_naming_the_field(routed_edge, request_, field):
    state = routed_edge.control_plane
    version = state.version(t.ROUTE)
    api = f"127.0.0.1:{routed_edge.route_api_port}"
    async with internal_channel(api, INTERNAL_TOKEN) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await routes_grpc.EdgeRouteServiceStub(channel).AddRoute(request_)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (refused.value.details() or "")
    assert state.version(t.ROUTE) == version  # nothing changed


async def test_route_api_is_for_services_only(routed_edge):
    api = f"127.0.0.1:{routed_edge.route_api_port}"
    request = routes_pb.AddRouteRequest(name="a", prefix="/apps/a/", backends=["127.0.0.1:1"])
    # A user's identity headers (as the edge would inject) or a wrong token are not enough.
    user = (("x-shipyard-user-id", "u-1"), ("x-shipyard-role", "superadmin"))
    async with grpc.aio.insecure_channel(api) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as as_user:
            await routes_grpc.EdgeRouteServiceStub(channel).AddRoute(request, metadata=user)
    async with internal_channel(api, "not-the-token") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as wrong_token:
            await routes_grpc.EdgeRouteServiceStub(channel).AddRoute(request)
    assert as_user.value.code() in (
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert wrong_token.value.code() in (
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert routed_edge.control_plane.resources(t.ROUTE)  # still only the built-in routes
    assert "extra:a" not in str(routed_edge.control_plane.resources(t.ROUTE)["edge"].unpack())


async def test_route_api_is_not_reachable_through_the_edge(routed_edge):
    addr = f"127.0.0.1:{routed_edge.listen_port}"
    assert await call(addr, "/shipyard.gateway.v1.EdgeRouteService/AddRoute") in (
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.NOT_FOUND,
    )
