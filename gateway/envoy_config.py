"""The static Envoy bootstrap of the edge (EDGE_XDS=false), built from EdgeSettings with
envoy-data-plane's classes (docs/edge-auth.md, docs/decisions.md D2).

One listener serves REST/JSON (transcoded), native gRPC and gRPC-Web; its filter chain is in
gateway/http_filters.py and its routes in gateway/edge_routes.py.
"""

from __future__ import annotations

import ipaddress
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

from betterproto2 import Casing
from envoy_data_plane.envoy.config.bootstrap.v3 import (
    Admin,
    Bootstrap,
    BootstrapStaticResources,
)
from envoy_data_plane.envoy.config.cluster.v3 import (
    Cluster,
    ClusterDiscoveryType,
    ClusterDnsLookupFamily,
)
from envoy_data_plane.envoy.config.core.v3 import (
    Address,
    DataSource,
    Http2ProtocolOptions,
    Node,
    SocketAddress,
    TransportSocket,
)
from envoy_data_plane.envoy.config.endpoint.v3 import (
    ClusterLoadAssignment,
    Endpoint,
    LbEndpoint,
    LocalityLbEndpoints,
)
from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain, Listener
from envoy_data_plane.envoy.config.overload.v3 import OverloadManager, ResourceMonitor
from envoy_data_plane.envoy.extensions.resource_monitors.downstream_connections.v3 import (
    DownstreamConnectionsConfig,
)
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import (
    CommonTlsContext,
    DownstreamTlsContext,
    TlsCertificate,
)
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
    HttpProtocolOptions,
    HttpProtocolOptionsExplicitHttpConfig,
)
from envoy_data_plane.google.protobuf import Any as AnyMessage

from gateway.bridge.envoy_routes import BRIDGE_CLUSTER, bridge_enabled
from gateway.config import EdgeSettings, Upstream, split_addr
from gateway.edge_routes import route_config
from gateway.http_filters import HCM, STRIPPED_REQUEST_HEADERS, http_connection_manager

__all__ = ["STRIPPED_REQUEST_HEADERS", "build_bootstrap", "write_bootstrap"]

EDGE = "edge"  # the listener, its route configuration and the Envoy node
ALPN = ["h2", "http/1.1"]  # HTTPS and gRPC over TLS on one port: ALPN picks the protocol
_H2 = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def build_bootstrap(settings: EdgeSettings) -> Bootstrap:
    """The complete static bootstrap: every route, filter and cluster inline."""
    clusters = [cluster(name, settings.upstream_addrs(name)) for name in upstreams(settings)]
    if bridge_enabled(settings):
        clusters.append(cluster(BRIDGE_CLUSTER, [bridge_addr(settings)], http2=False))
    if settings.otlp_endpoint:
        clusters.append(cluster("otlp", [split_addr(settings.otlp_endpoint)]))
    hcm = http_connection_manager(settings, route_config(settings))
    chain = FilterChain(filters=[Filter(name=HCM, typed_config=AnyMessage.pack(hcm))])
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        chain.transport_socket = _tls(settings.tls_cert_file, settings.tls_key_file)
    edge = Listener(name=EDGE, address=address(settings.host, settings.port), filter_chains=[chain])
    return Bootstrap(
        node=Node(id=EDGE, cluster=EDGE),
        admin=Admin(address=address("127.0.0.1", settings.admin_port)),
        static_resources=BootstrapStaticResources(listeners=[edge], clusters=clusters),
        overload_manager=overload_manager(settings),
    )


def overload_manager(settings: EdgeSettings) -> OverloadManager:
    """At most settings.max_connections client connections at a time."""
    limit = DownstreamConnectionsConfig(max_active_downstream_connections=settings.max_connections)
    monitor = ResourceMonitor(
        name="envoy.resource_monitors.global_downstream_max_connections",
        typed_config=AnyMessage.pack(limit),
    )
    return OverloadManager(resource_monitors=[monitor])


def as_json(message: Bootstrap) -> dict[str, Any]:
    """A bootstrap as the JSON Envoy reads (proto3 JSON, snake_case field names)."""
    return message.to_dict(casing=Casing.SNAKE)


def write_bootstrap(settings: EdgeSettings, path: Path) -> Path:
    """Write the bootstrap as JSON, readable by its owner only (it holds the internal token)."""
    return write_json(as_json(build_bootstrap(settings)), path)


def write_json(config: dict[str, Any], path: Path) -> Path:
    """`config` as JSON in a file only its owner can read."""
    data = json.dumps(config, indent=2).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file already existed
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def upstreams(settings: EdgeSettings) -> list[Upstream]:
    # auth serves ext_authz and registry serves health even when no public service maps to them.
    wanted = {"auth", "registry", *settings.public_services.values()}
    return [u for u in get_args(Upstream) if u in wanted]


def _tls(cert: Path, key: Path) -> TransportSocket:
    """HTTPS and gRPC over TLS on the same port, the files read by Envoy."""
    pair = TlsCertificate(
        certificate_chain=DataSource(filename=str(cert.resolve())),
        private_key=DataSource(filename=str(key.resolve())),
    )
    tls = DownstreamTlsContext(
        common_tls_context=CommonTlsContext(tls_certificates=[pair], alpn_protocols=ALPN)
    )
    return TransportSocket(name="envoy.transport_sockets.tls", typed_config=AnyMessage.pack(tls))


def address(host: str, port: int) -> Address:
    return Address(socket_address=SocketAddress(address=host, port_value=port))


def h2_options() -> dict[str, AnyMessage]:
    """Upstream protocol options: gRPC upstreams speak h2c."""
    explicit = HttpProtocolOptionsExplicitHttpConfig(http2_protocol_options=Http2ProtocolOptions())
    return {_H2: AnyMessage.pack(HttpProtocolOptions(explicit_http_config=explicit))}


def load_assignment(name: str, addrs: list[tuple[str, int]]) -> ClusterLoadAssignment:
    lb = [LbEndpoint(endpoint=Endpoint(address=address(h, p))) for h, p in addrs]
    return ClusterLoadAssignment(
        cluster_name=name, endpoints=[LocalityLbEndpoints(lb_endpoints=lb)]
    )


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def bridge_addr(settings: EdgeSettings) -> tuple[str, int]:
    return "127.0.0.1", settings.bridge_port


def cluster(name: str, addrs: list[tuple[str, int]], *, http2: bool = True) -> Cluster:
    """A static h2c cluster (HTTP/1.1 without `http2`: the bridge, for WebSocket upgrades); a
    host name makes it STRICT_DNS (every A record is a replica)."""
    static = all(is_ip(host) for host, _ in addrs)
    return Cluster(
        name=name,
        type=ClusterDiscoveryType.STATIC if static else ClusterDiscoveryType.STRICT_DNS,
        dns_lookup_family=ClusterDnsLookupFamily.V4_PREFERRED,
        connect_timeout=timedelta(seconds=1),
        load_assignment=load_assignment(name, addrs),
        typed_extension_protocol_options=h2_options() if http2 else {},
    )
