"""The edge's app API (shipyard.gateway.v1.EdgeAppService), as the registry's AppEdge."""

from __future__ import annotations

from datetime import UTC, timedelta

import grpc
from shipyard.gateway.v1 import edge_app_service_pb2 as pb
from shipyard.gateway.v1 import edge_app_service_pb2_grpc as pb_grpc

from libs.core.errors import FailedPrecondition
from libs.grpcutil.client import internal_channel
from libs.grpcutil.status import error_from_rpc
from services.registry.service.apps import OpenedApp

DEADLINE = 10.0


class AppsDisabled(FailedPrecondition):
    reason = "APPS_DISABLED"


class GrpcAppEdge:
    def __init__(self, addr: str | None, internal_token: str) -> None:
        self._channel = internal_channel(addr, internal_token) if addr else None
        self._stub = pb_grpc.EdgeAppServiceStub(self._channel) if self._channel else None

    async def open(
        self, session_id: str, app: str, backend: str, user_id: str, ttl: timedelta | None
    ) -> OpenedApp:
        if self._stub is None:
            raise AppsDisabled("apps are off: the registry has no REGISTRY_EDGE_API_ADDR")
        request = pb.OpenAppRequest(
            session_id=session_id, app=app, backend=backend, user_id=user_id
        )
        if ttl is not None:
            request.token_ttl.FromTimedelta(ttl)
        try:
            r = await self._stub.OpenApp(request, timeout=DEADLINE)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        return OpenedApp(
            url=r.url,
            token=r.token,
            expire_time=r.expire_time.ToDatetime(tzinfo=UTC),
            host=r.host,
        )

    async def close_session(self, session_id: str) -> int:
        if self._stub is None:
            return 0
        request = pb.CloseSessionAppsRequest(session_id=session_id)
        try:
            response = await self._stub.CloseSessionApps(request, timeout=DEADLINE)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        return int(response.closed)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
