"""The edge's xDS resources as envoy-data-plane objects: listener, routes, clusters, endpoints,
secrets, and the minimal bootstrap that points Envoy at the control plane (docs/decisions.md).

The HTTP filter chain and the route table are the ones of the static bootstrap
(gateway/http_filters.py, gateway/edge_routes.py); xDS adds RDS, EDS clusters, health checks,
retries, SDS and ECDS.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from envoy_data_plane.envoy.config.cluster.v3 import CircuitBreakers, CircuitBreakersThresholds
from envoy_data_plane.envoy.config.core.v3 import DataSource, Pipe, TransportSocket
from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import (
    CommonTlsContext,
    DownstreamTlsContext,
)

from gateway import bearer, envoy_config
from gateway.config import EdgeSettings, split_addr
from gateway.envoy_config import (
    ALPN,
    EDGE,
    address,
    h2_options,
    is_ip,
    load_assignment,
    overload_manager,
)
from gateway.http_filters import HCM, http_connection_manager
from gateway.xds import types as t

XDS_CLUSTER = "xds"
TLS_SECRET = "edge_tls"
# Retries in flight per cluster (Envoy's default, 3, turns a killed replica's cut-off calls
# into 503s under load); each call is still retried at most RETRIES times.
MAX_RETRIES_IN_FLIGHT = 1024


def _ads() -> t.ConfigSource:
    return t.ConfigSource(ads=t.AggregatedConfigSource(), resource_api_version=t.ApiVersion.V3)


def by_eds(addrs: list[tuple[str, int]]) -> bool:
    """IP addresses come by EDS; a host name is left to Envoy's DNS (STRICT_DNS)."""
    return all(is_ip(h) for h, _ in addrs)


def cluster(
    name: str,
    addrs: list[tuple[str, int]],
    *,
    health_interval: float | None,
    http1: bool = False,
    health_path: str = "",
) -> t.Cluster:
    """An h2c (or, with `http1`, HTTP/1.1) cluster. IP endpoints come by EDS (replicas change
    live); a host name is resolved by Envoy (STRICT_DNS: every A record is a replica).
    `health_interval`: health checks, gRPC ones or, with `health_path`, a GET of that path."""
    c = t.Cluster(
        name=name,
        connect_timeout=timedelta(seconds=1),
        typed_extension_protocol_options={} if http1 else h2_options(),
        # A replica removed by EDS leaves at once, healthy or not.
        ignore_health_on_host_removal=True,
        circuit_breakers=CircuitBreakers(
            thresholds=[CircuitBreakersThresholds(max_retries=MAX_RETRIES_IN_FLIGHT)]
        ),
    )
    if by_eds(addrs):
        c.type = t.ClusterDiscoveryType.EDS
        c.eds_cluster_config = t.ClusterEdsClusterConfig(eds_config=_ads())
    else:
        c.type = t.ClusterDiscoveryType.STRICT_DNS
        c.load_assignment = load_assignment(name, addrs)
    if health_interval is not None:
        every = timedelta(seconds=health_interval)
        c.health_checks = [
            t.HealthCheck(
                timeout=timedelta(seconds=1),
                interval=every,
                no_traffic_interval=every,  # else 60 s between checks of an idle cluster
                unhealthy_threshold=2,
                healthy_threshold=1,
            )
        ]
        if health_path:
            c.health_checks[0].http_health_check = t.HealthCheckHttpHealthCheck(path=health_path)
        else:
            c.health_checks[0].grpc_health_check = t.HealthCheckGrpcHealthCheck()
    return c


def upstream_clusters(settings: EdgeSettings) -> dict[str, list[tuple[str, int]]]:
    """The clusters the edge needs, each with its replicas as configured."""
    found: dict[str, list[tuple[str, int]]] = {
        name: settings.upstream_addrs(name) for name in envoy_config.upstreams(settings)
    }
    if settings.otlp_endpoint:
        found["otlp"] = [split_addr(settings.otlp_endpoint)]
    found.update(settings.http_upstreams())
    return found


def _edge_hcm(
    settings: EdgeSettings,
) -> tuple[t.HttpConnectionManager, list[t.TypedExtensionConfig]]:
    """The HTTP connection manager, routes by RDS; the token verifier's config (its keys) is
    taken out and served by ECDS, so a rotated key reaches open connections too."""
    hcm = http_connection_manager(settings, None)
    hcm.rds = t.Rds(config_source=_ads(), route_config_name=EDGE)
    discovered: list[t.TypedExtensionConfig] = []
    for f in hcm.http_filters:
        if f.name == bearer.JWT_AUTHN and f.typed_config is not None:
            discovered.append(t.TypedExtensionConfig(name=f.name, typed_config=f.typed_config))
            f.config_discovery = t.ExtensionConfigSource(
                config_source=_ads(), type_urls=[f.typed_config.type_url]
            )
            f.typed_config = None
    return hcm, discovered


def listener(settings: EdgeSettings) -> t.Listener:
    """The edge listener; its routes come by RDS, its certificate by SDS."""
    hcm, _ = _edge_hcm(settings)
    chain = FilterChain(filters=[Filter(name=HCM, typed_config=t.Any.pack(hcm))])
    if settings.tls_cert_file is not None:
        sds = t.SdsSecretConfig(name=TLS_SECRET, sds_config=_ads())
        tls = DownstreamTlsContext(
            common_tls_context=CommonTlsContext(
                tls_certificate_sds_secret_configs=[sds], alpn_protocols=ALPN
            )
        )
        chain.transport_socket = TransportSocket(
            name="envoy.transport_sockets.tls", typed_config=t.Any.pack(tls)
        )
    return t.Listener(
        name=EDGE, address=address(settings.host, settings.port), filter_chains=[chain]
    )


def filter_configs(settings: EdgeSettings) -> list[t.TypedExtensionConfig]:
    """The HTTP filter configs served by ECDS (the token verifier, when bearer tokens are on)."""
    return _edge_hcm(settings)[1]


def tls_secret(cert: Path, key: Path) -> t.Secret:
    """The edge certificate, inline: Envoy never reads the files, so a rotation is one push."""
    return t.Secret(
        name=TLS_SECRET,
        tls_certificate=t.TlsCertificate(
            certificate_chain=DataSource(inline_bytes=cert.read_bytes()),
            private_key=DataSource(inline_bytes=key.read_bytes()),
        ),
    )


def bootstrap(settings: EdgeSettings, xds_socket: Path) -> t.Bootstrap:
    """Admin, the node, and the one static cluster: the control plane on a Unix socket."""
    xds = t.Cluster(
        name=XDS_CLUSTER,
        type=t.ClusterDiscoveryType.STATIC,
        connect_timeout=timedelta(seconds=1),
        typed_extension_protocol_options=h2_options(),
        load_assignment=t.ClusterLoadAssignment(
            cluster_name=XDS_CLUSTER,
            endpoints=[
                t.LocalityLbEndpoints(
                    lb_endpoints=[
                        t.LbEndpoint(
                            endpoint=t.Endpoint(address=_pipe(xds_socket)),
                        )
                    ]
                )
            ],
        ),
    )
    ads = t.ApiConfigSource(
        api_type=t.ApiConfigSourceApiType.GRPC,
        transport_api_version=t.ApiVersion.V3,
        grpc_services=[t.GrpcService(envoy_grpc=t.GrpcServiceEnvoyGrpc(cluster_name=XDS_CLUSTER))],
        set_node_on_first_message_only=True,
    )
    return t.Bootstrap(
        node=t.Node(id=EDGE, cluster=EDGE),
        admin=t.Admin(address=address("127.0.0.1", settings.admin_port)),
        dynamic_resources=t.BootstrapDynamicResources(
            ads_config=ads, cds_config=_ads(), lds_config=_ads()
        ),
        static_resources=t.BootstrapStaticResources(clusters=[xds]),
        overload_manager=overload_manager(settings),
    )


def _pipe(path: Path) -> t.Address:
    return t.Address(pipe=Pipe(path=str(path), mode=0o600))
