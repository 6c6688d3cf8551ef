"""Envoy's API types used by the control plane, from envoy-data-plane (betterproto2 classes).

Importing the filter modules registers their messages, so an `Any` (its `@type`) can be
unpacked and printed (`shipyard edge config`) or read back from Envoy's config_dump
(docs/decisions.md).
"""

# ruff: noqa: F401  (imported for their message-pool registration)
from __future__ import annotations

import envoy_data_plane.envoy.config.trace.v3
import envoy_data_plane.envoy.extensions.access_loggers.filters.cel.v3
import envoy_data_plane.envoy.extensions.filters.http.cors.v3
import envoy_data_plane.envoy.extensions.filters.http.ext_authz.v3
import envoy_data_plane.envoy.extensions.filters.http.grpc_json_transcoder.v3
import envoy_data_plane.envoy.extensions.filters.http.grpc_web.v3
import envoy_data_plane.envoy.extensions.filters.http.header_mutation.v3
import envoy_data_plane.envoy.extensions.filters.http.jwt_authn.v3
import envoy_data_plane.envoy.extensions.filters.http.local_ratelimit.v3
import envoy_data_plane.envoy.extensions.filters.http.router.v3
import envoy_data_plane.envoy.extensions.resource_monitors.downstream_connections.v3
import envoy_data_plane.envoy.extensions.transport_sockets.tls.v3
import envoy_data_plane.envoy.extensions.upstreams.http.v3
from envoy_data_plane.envoy.config.bootstrap.v3 import (
    Admin,
    Bootstrap,
    BootstrapDynamicResources,
    BootstrapStaticResources,
)
from envoy_data_plane.envoy.config.cluster.v3 import (
    Cluster,
    ClusterDiscoveryType,
    ClusterEdsClusterConfig,
)
from envoy_data_plane.envoy.config.core.v3 import (
    Address,
    AggregatedConfigSource,
    ApiConfigSource,
    ApiConfigSourceApiType,
    ApiVersion,
    ConfigSource,
    ExtensionConfigSource,
    GrpcService,
    GrpcServiceEnvoyGrpc,
    HealthCheck,
    HealthCheckGrpcHealthCheck,
    HealthCheckHttpHealthCheck,
    HealthStatus,
    Http2ProtocolOptions,
    Node,
    SocketAddress,
    TypedExtensionConfig,
)
from envoy_data_plane.envoy.config.endpoint.v3 import (
    ClusterLoadAssignment,
    Endpoint,
    LbEndpoint,
    LocalityLbEndpoints,
)
from envoy_data_plane.envoy.config.listener.v3 import Listener
from envoy_data_plane.envoy.config.route.v3 import (
    DirectResponseAction,
    RetryPolicy,
    Route,
    RouteAction,
    RouteConfiguration,
    RouteMatch,
)
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
    HttpFilter,
    Rds,
)
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import (
    SdsSecretConfig,
    Secret,
    TlsCertificate,
)
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
    HttpProtocolOptions,
    HttpProtocolOptionsExplicitHttpConfig,
)
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse
from envoy_data_plane.google.protobuf import Any

T = "type.googleapis.com/"
LISTENER = T + "envoy.config.listener.v3.Listener"
ROUTE = T + "envoy.config.route.v3.RouteConfiguration"
CLUSTER = T + "envoy.config.cluster.v3.Cluster"
ENDPOINT = T + "envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = T + "envoy.extensions.transport_sockets.tls.v3.Secret"
EXTENSION = T + "envoy.config.core.v3.TypedExtensionConfig"  # ECDS: an HTTP filter's config
# The order a change is pushed in: a cluster exists before its endpoints and any route to it.
PUSH_ORDER = (CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, EXTENSION)

__all__ = [
    "CLUSTER",
    "ENDPOINT",
    "EXTENSION",
    "LISTENER",
    "PUSH_ORDER",
    "ROUTE",
    "SECRET",
    "Address",
    "Admin",
    "AggregatedConfigSource",
    "Any",
    "ApiConfigSource",
    "ApiConfigSourceApiType",
    "ApiVersion",
    "Bootstrap",
    "BootstrapDynamicResources",
    "BootstrapStaticResources",
    "Cluster",
    "ClusterDiscoveryType",
    "ClusterEdsClusterConfig",
    "ClusterLoadAssignment",
    "ConfigSource",
    "DirectResponseAction",
    "DiscoveryRequest",
    "DiscoveryResponse",
    "Endpoint",
    "ExtensionConfigSource",
    "GrpcService",
    "GrpcServiceEnvoyGrpc",
    "HealthCheck",
    "HealthCheckGrpcHealthCheck",
    "HealthCheckHttpHealthCheck",
    "HealthStatus",
    "Http2ProtocolOptions",
    "HttpConnectionManager",
    "HttpFilter",
    "HttpProtocolOptions",
    "HttpProtocolOptionsExplicitHttpConfig",
    "LbEndpoint",
    "Listener",
    "LocalityLbEndpoints",
    "Node",
    "Rds",
    "RetryPolicy",
    "Route",
    "RouteAction",
    "RouteConfiguration",
    "RouteMatch",
    "SdsSecretConfig",
    "Secret",
    "SocketAddress",
    "TlsCertificate",
    "TypedExtensionConfig",
]
