"""Envoy's ext_authz as an HTTP service (the edge's default; docs/edge-auth.md).

Envoy sends the client request's method, path (behind CHECK_PREFIX), Host and signature headers
as an HTTP/1.1 request; a 200 admits it with the identity headers (and names the headers to
remove), any other status is the denial Envoy answers the client with. Same decision as the
gRPC Check. HEALTH_PATH answers the edge's health checker; anything else is not found.
"""

from __future__ import annotations

from http import HTTPStatus

from opentelemetry import trace

from libs.core.check_paths import CHECK_PREFIX, HEALTH_PATH
from libs.telemetry.server_spans import server_span
from services.auth.api.check_outcome import Allow, Outcome, decide, is_grpc
from services.auth.api.ext_authz import CHECK
from services.auth.api.http1 import Request, Response
from services.auth.service.admission import SignedRequestAdmission
from services.auth.service.verify import RequestFacts

# Envoy removes the headers this response header names from the request it forwards.
HEADERS_TO_REMOVE = "x-envoy-auth-headers-to-remove"
_TEXT = (("content-type", "text/plain"),)


class HttpCheck:
    """The HTTP Check handler (services/auth/api/http1.py serves it)."""

    def __init__(self, admission: SignedRequestAdmission) -> None:
        self._admission = admission
        self._tracer = trace.get_tracer(__name__)  # built after setup_tracing: the real one

    async def __call__(self, request: Request) -> Response:
        if not request.target.startswith(CHECK_PREFIX + "/"):
            return _not_a_check(request)
        headers = request.headers
        # The same span as the gRPC Check's, a child of the trace context Envoy sends.
        with server_span(CHECK, headers, self._tracer) as span:
            facts = RequestFacts(
                method=request.method,
                path=request.target[len(CHECK_PREFIX) :],  # the client's path, as it signed it
                host=headers.get("host", ""),
                headers=headers,
            )
            grpc_caller = is_grpc(headers.get("content-type", ""))
            outcome = await decide(self._admission, facts, grpc_caller=grpc_caller)
            span.set_attribute("http.response.status_code", outcome.http_status)
            return http_response(outcome)


def http_response(outcome: Outcome) -> Response:
    """The decision as the HTTP service's reply to Envoy."""
    if isinstance(outcome, Allow):
        removed = (HEADERS_TO_REMOVE, ",".join(outcome.remove_headers))
        return Response(
            HTTPStatus.OK, (*outcome.upstream_headers, *outcome.client_headers, removed)
        )
    headers = (("content-type", outcome.content_type), *outcome.headers)
    return Response(outcome.http_status, headers, outcome.body.encode())


def _not_a_check(request: Request) -> Response:
    """The health checker's probe (this replica's event loop answers: it can serve Checks), or
    a request that is no Check at all."""
    if request.target == HEALTH_PATH and request.method in ("GET", "HEAD"):
        return Response(HTTPStatus.OK, _TEXT, b"serving\n")
    return Response(HTTPStatus.NOT_FOUND, _TEXT, b"not a Check: its path must start with /check/\n")
