"""Envoy's ext_authz `envoy.service.auth.v3.Authorization/Check`, backed by the verifier."""

from __future__ import annotations

import logging

import grpc
from envoy_ext_authz.v3 import external_auth_pb2 as authz
from envoy_ext_authz.v3 import external_auth_pb2_grpc as authz_grpc
from typing_extensions import override

from libs.core.errors import Unauthenticated
from libs.telemetry.tracing import server_span
from services.auth.api.convert import (
    allow,
    deny_rate_limited,
    deny_unauthenticated,
    deny_unavailable,
    facts_from_check,
    is_grpc,
)
from services.auth.service.admission import RateLimited, SignedRequestAdmission

log = logging.getLogger(__name__)

CHECK = "/envoy.service.auth.v3.Authorization/Check"


class AuthorizationServicer(authz_grpc.AuthorizationServicer):
    def __init__(self, admission: SignedRequestAdmission) -> None:
        self._admission = admission

    @override
    async def Check(
        self, request: authz.CheckRequest, context: grpc.aio.ServicerContext
    ) -> authz.CheckResponse:
        # Traced here rather than by the gRPC instrumentation (libs/telemetry SELF_TRACED_METHODS).
        # No context when called in-process (unit tests, bench.authz_check).
        with server_span(CHECK, context.invocation_metadata() if context else ()) as span:
            response = await self._check(request)
            span.set_attribute("http.response.status_code", _http_status(response))
            return response

    async def _check(self, request: authz.CheckRequest) -> authz.CheckResponse:
        facts = facts_from_check(request)
        try:
            admitted = await self._admission.admit(facts)
        except RateLimited as exc:
            log.debug("rate-limited %s %s", facts.method, facts.path)
            return deny_rate_limited(exc, grpc_caller=is_grpc(request))
        except Unauthenticated as exc:
            log.debug("denied %s %s: %s", facts.method, facts.path, exc.reason)
            return deny_unauthenticated(exc, grpc_caller=is_grpc(request))
        except Exception:
            # Always an explicit deny (503): an RPC error would leave the outcome to Envoy's
            # failure_mode_allow / status_on_error settings.
            log.exception("cannot verify %s %s", facts.method, facts.path)
            return deny_unavailable(grpc_caller=is_grpc(request))
        return allow(admitted.caller, admitted.quota)


def _http_status(response: authz.CheckResponse) -> int:
    """What Envoy answers the client (200: the request goes on)."""
    if response.HasField("denied_response"):
        return response.denied_response.status.code
    return 200
