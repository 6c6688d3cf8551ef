"""Envoy's ext_authz `envoy.service.auth.v3.Authorization/Check` over gRPC (the edge's HTTP
Check, api/ext_authz_http.py, answers the same decision over HTTP/1.1)."""

from __future__ import annotations

import grpc
from envoy_ext_authz.v3 import external_auth_pb2 as authz
from envoy_ext_authz.v3 import external_auth_pb2_grpc as authz_grpc
from opentelemetry import trace
from typing_extensions import override

from libs.telemetry.server_spans import server_span
from services.auth.api.check_outcome import decide
from services.auth.api.convert import check_response, facts_from_check, is_grpc
from services.auth.service.admission import SignedRequestAdmission

CHECK = "/envoy.service.auth.v3.Authorization/Check"


class AuthorizationServicer(authz_grpc.AuthorizationServicer):
    def __init__(self, admission: SignedRequestAdmission) -> None:
        self._admission = admission
        self._tracer = trace.get_tracer(__name__)  # built after setup_tracing: the real one

    @override
    async def Check(
        self, request: authz.CheckRequest, context: grpc.aio.ServicerContext
    ) -> authz.CheckResponse:
        # Traced here rather than by the server's interceptor (libs/telemetry/server_spans.py).
        # No context when called in-process (unit tests, bench.authz_check).
        metadata = context.invocation_metadata() if context else ()
        with server_span(CHECK, metadata, self._tracer) as span:
            outcome = await decide(
                self._admission, facts_from_check(request), grpc_caller=is_grpc(request)
            )
            # What Envoy answers the client (200: the request goes on).
            span.set_attribute("http.response.status_code", outcome.http_status)
            return check_response(outcome)
