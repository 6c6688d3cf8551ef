"""The Envoy edge: one port for REST/JSON, native gRPC and gRPC-Web in front of the services."""

from gateway.config import PUBLIC_SERVICES, EdgeSettings
from gateway.envoy_config import STRIPPED_REQUEST_HEADERS, build_bootstrap, write_bootstrap
from gateway.launcher import EdgeStartError, EnvoyEdge, find_envoy

__all__ = [
    "PUBLIC_SERVICES",
    "STRIPPED_REQUEST_HEADERS",
    "EdgeSettings",
    "EdgeStartError",
    "EnvoyEdge",
    "build_bootstrap",
    "find_envoy",
    "write_bootstrap",
]
