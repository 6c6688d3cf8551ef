"""shipyard.registry.v1.AppService: a session's apps in the browser (docs/apps.md)."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import app_service_pb2 as pb
from shipyard.registry.v1 import app_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.registry.service.apps import ListApps, StartApp

SERVICE_NAME = "shipyard.registry.v1.AppService"


class AppServicer(pb_grpc.AppServiceServicer):
    def __init__(self, start: StartApp, list_apps: ListApps) -> None:
        self._start = start
        self._list = list_apps

    @override
    async def StartApp(
        self, request: pb.StartAppRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartAppResponse:
        ttl = request.token_ttl.ToTimedelta() if request.HasField("token_ttl") else None
        opened = await self._start(current_caller(), request.session_id, request.app, ttl)
        response = pb.StartAppResponse(url=opened.url, token=opened.token, host=opened.host)
        response.expire_time.FromDatetime(opened.expire_time)
        return response

    @override
    async def ListApps(
        self, request: pb.ListAppsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAppsResponse:
        apps = await self._list(current_caller(), request.session_id)
        return pb.ListAppsResponse(
            apps=[
                pb.SessionApp(name=a.name, protocol=a.protocol, port=a.container_ports[0])
                for a in apps
            ]
        )
