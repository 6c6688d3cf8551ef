"""The edge's internal route API (shipyard.gateway.v1.EdgeRouteService): system callers add and
remove run-time routes; each change reaches Envoy by xDS (gateway/xds/state.py)."""

from __future__ import annotations

import grpc
from shipyard.gateway.v1 import edge_route_service_pb2 as pb
from shipyard.gateway.v1 import edge_route_service_pb2_grpc as pb_grpc
from typing_extensions import override

from gateway.apps_api import app_registration
from gateway.config import EdgeSettings
from gateway.xds import types as t
from gateway.xds.routes import RouteError, check_route
from gateway.xds.state import ControlPlaneState
from libs.core import errors
from libs.grpcutil.context import require_system
from libs.grpcutil.server import GrpcServer, Registration, create_server

SERVICE = "shipyard.gateway.v1.EdgeRouteService"


def _cluster_of(route: str) -> str:
    return f"route.{route}"


class EdgeRouteServicer(pb_grpc.EdgeRouteServiceServicer):
    def __init__(self, state: ControlPlaneState) -> None:
        self._state = state

    @override
    async def AddRoute(
        self, request: pb.AddRouteRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddRouteResponse:
        require_system()
        cluster = _cluster_of(request.name)
        try:
            check_route(request.name, request.prefix)  # before anything changes
            # The cluster first, then the route to it: Envoy never routes to a missing cluster.
            self._state.add_cluster(cluster, ",".join(request.backends))
            self._state.add_route(request.name, request.prefix, cluster)
        except RouteError as exc:
            raise errors.InvalidArgument(str(exc)) from exc
        return pb.AddRouteResponse(version=self._state.version(t.ROUTE))

    @override
    async def RemoveRoute(
        self, request: pb.RemoveRouteRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveRouteResponse:
        require_system()
        removed = self._state.remove_route(request.name)
        self._state.remove_cluster(_cluster_of(request.name))  # after the route: no 503 window
        return pb.RemoveRouteResponse(removed=removed)


def route_api_server(
    state: ControlPlaneState,
    settings: EdgeSettings,
    *,
    bind: str,
    internal_token: str,
    domain: str = "gateway",
) -> GrpcServer:
    """The internal route and app APIs on `bind` (not started); only the internal token gets
    in."""
    return create_server(
        domain=domain,
        internal_token=internal_token,
        bind=bind,
        services=[
            Registration(
                pb_grpc.add_EdgeRouteServiceServicer_to_server, EdgeRouteServicer(state), SERVICE
            ),
            app_registration(state, settings),
        ],
    )
