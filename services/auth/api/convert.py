"""Protobuf ⇄ auth's types: Envoy ext_authz Check messages."""

from __future__ import annotations

from envoy_ext_authz.v3 import external_auth_pb2 as authz
from google.rpc import code_pb2, status_pb2

from services.auth.api import check_outcome
from services.auth.api.check_outcome import Allow, Headers, Outcome
from services.auth.service.verify import RequestFacts

_OVERWRITE = authz.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def facts_from_check(request: authz.CheckRequest) -> RequestFacts:
    """The client's original request: ext_authz runs before the transcoder rewrites it."""
    http = request.attributes.request.http
    return RequestFacts(
        method=http.method, path=http.path, host=http.host, headers=dict(http.headers)
    )


def is_grpc(request: authz.CheckRequest) -> bool:
    return check_outcome.is_grpc(request.attributes.request.http.headers.get("content-type", ""))


def check_response(outcome: Outcome) -> authz.CheckResponse:
    """The decision as Envoy's gRPC ext_authz reply."""
    if isinstance(outcome, Allow):
        return authz.CheckResponse(
            status=status_pb2.Status(code=code_pb2.OK),
            ok_response=authz.OkHttpResponse(
                headers=_header_options(outcome.upstream_headers),
                headers_to_remove=list(outcome.remove_headers),
                response_headers_to_add=_header_options(outcome.client_headers),
            ),
        )
    headers = (("content-type", outcome.content_type), *outcome.headers)
    return authz.CheckResponse(
        status=status_pb2.Status(code=outcome.code, message=outcome.message),
        denied_response=authz.DeniedHttpResponse(
            status=authz.HttpStatus(code=outcome.http_status),
            headers=_header_options(headers),
            body=outcome.body,
        ),
    )


def _header_options(headers: Headers) -> list[authz.HeaderValueOption]:
    return [
        authz.HeaderValueOption(
            header=authz.HeaderValue(key=key, value=value), append_action=_OVERWRITE
        )
        for key, value in headers
    ]
