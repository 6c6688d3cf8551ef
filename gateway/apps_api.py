"""shipyard.gateway.v1.EdgeAppService: session apps' host names and their tokens (system
callers only; the registry decides who may open an app, docs/apps.md)."""

from __future__ import annotations

from datetime import timedelta

import grpc
from shipyard.gateway.v1 import edge_app_service_pb2 as pb
from shipyard.gateway.v1 import edge_app_service_pb2_grpc as pb_grpc
from typing_extensions import override

from gateway import apps
from gateway.config import EdgeSettings, split_addr
from gateway.xds.state import ControlPlaneState
from libs.core import errors
from libs.core.app_keys import app_backend_key
from libs.grpcutil.context import require_system
from libs.grpcutil.server import Registration

SERVICE = "shipyard.gateway.v1.EdgeAppService"


class EdgeAppServicer(pb_grpc.EdgeAppServiceServicer):
    def __init__(self, state: ControlPlaneState, settings: EdgeSettings) -> None:
        self._state = state
        self._settings = settings
        self._key = apps.app_key(settings.internal_token.get_secret_value())

    @override
    async def OpenApp(
        self, request: pb.OpenAppRequest, context: grpc.aio.ServicerContext
    ) -> pb.OpenAppResponse:
        require_system()
        s = self._settings
        try:
            backend = split_addr(request.backend)
        except ValueError as exc:
            raise errors.InvalidArgument(f"backend: {exc}") from exc
        longest = timedelta(seconds=s.app_token_max_ttl_seconds)
        ttl = request.token_ttl.ToTimedelta() if request.HasField("token_ttl") else longest
        if ttl <= timedelta(0):
            raise errors.InvalidArgument("token_ttl: must be positive")
        label = apps.host_label(request.app, request.session_id)
        key = app_backend_key(s.internal_token.get_secret_value(), request.app, request.session_id)
        self._state.add_app(apps.AppRoute(request.session_id, label, backend, key))
        token, expires = apps.issue_token(self._key, label, request.user_id, min(ttl, longest))
        host = f"{label}.{s.app_domain}"
        scheme = "https" if s.tls_cert_file is not None else "http"
        port = s.app_public_port or s.port
        url = f"{scheme}://{host}:{port}/?{apps.TOKEN_PARAM}={token}"
        response = pb.OpenAppResponse(url=url, token=token, host=host)
        response.expire_time.FromDatetime(expires)
        return response

    @override
    async def CloseSessionApps(
        self, request: pb.CloseSessionAppsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CloseSessionAppsResponse:
        require_system()
        return pb.CloseSessionAppsResponse(
            closed=self._state.remove_session_apps(request.session_id)
        )


def app_registration(state: ControlPlaneState, settings: EdgeSettings) -> Registration:
    return Registration(
        pb_grpc.add_EdgeAppServiceServicer_to_server, EdgeAppServicer(state, settings), SERVICE
    )
