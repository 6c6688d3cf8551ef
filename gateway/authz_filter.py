"""The edge's ext_authz filter: auth's HTTP Check by default, its gRPC Check when EDGE_AUTHZ is
"grpc" (docs/edge-auth.md, docs/decisions.md D6). Both fail closed with a 503."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.core.v3 import (
    ApiVersion,
    GrpcService,
    GrpcServiceEnvoyGrpc,
    HttpUri,
    RetryPolicy,
)
from envoy_data_plane.envoy.extensions.filters.http.ext_authz.v3 import (
    AuthorizationResponse,
    ExtAuthz,
    HttpService,
)
from envoy_data_plane.envoy.type.matcher.v3 import ListStringMatcher, StringMatcher
from envoy_data_plane.envoy.type.v3 import HttpStatus, StatusCode

from gateway.config import AUTHZ_CLUSTER, EdgeSettings
from libs.core.check_paths import CHECK_PREFIX
from libs.core.identity import IDENTITY_HEADERS
from libs.core.identity_reply import HEADER_IDENTITY_REPLY
from libs.core.signing import RATE_LIMIT_HEADERS, SIGNED_REQUEST_HEADERS

# What a denial may carry to the client besides its status and body: the body's type, the
# gRPC status for gRPC callers, and the rate limit (Envoy adds a few more itself).
DENIAL_HEADERS = ("content-type", "grpc-status", *RATE_LIMIT_HEADERS)


def grpc_service(cluster: str, timeout_seconds: float) -> GrpcService:
    return GrpcService(
        envoy_grpc=GrpcServiceEnvoyGrpc(cluster_name=cluster),
        timeout=timedelta(seconds=timeout_seconds),
    )


def ext_authz(settings: EdgeSettings) -> ExtAuthz:
    config = ExtAuthz(
        transport_api_version=ApiVersion.V3,
        failure_mode_allow=False,
        status_on_error=HttpStatus(code=StatusCode.ServiceUnavailable),
    )
    if settings.authz == "grpc":
        config.grpc_service = grpc_service("auth", settings.authz_timeout_seconds)
        return config
    config.http_service = HttpService(
        server_uri=HttpUri(
            uri=f"http://{AUTHZ_CLUSTER}",
            cluster=AUTHZ_CLUSTER,
            timeout=timedelta(seconds=settings.authz_timeout_seconds),
        ),
        # In front of the client's path: auth tells a Check from its health probe by it.
        path_prefix=CHECK_PREFIX,
        authorization_response=AuthorizationResponse(
            # Set on the forwarded request, overwriting any copy (header_mutation already
            # stripped the client's), and the identity reply for the edge (gateway/
            # identity_reply.py); the 200 also names the headers to remove
            # (x-envoy-auth-headers-to-remove: the credential, empty identity fields).
            allowed_upstream_headers=_exactly((*IDENTITY_HEADERS, HEADER_IDENTITY_REPLY)),
            allowed_client_headers=_exactly(DENIAL_HEADERS),
            allowed_client_headers_on_success=_exactly(RATE_LIMIT_HEADERS),
        ),
        # A Check that never reached a replica (its connection was refused) goes to another;
        # one that did is never sent twice (its signature may be in the replay cache).
        retry_policy=RetryPolicy(retry_on="connect-failure", num_retries=1),
    )
    # Method, path and Host always go; the body is never signed (its hash is the empty one's).
    config.allowed_headers = _exactly(SIGNED_REQUEST_HEADERS)
    return config


def _exactly(names: tuple[str, ...]) -> ListStringMatcher:
    return ListStringMatcher(patterns=[StringMatcher(exact=name) for name in names])
