"""The edge's side of service-to-service mutual TLS: every upstream cluster (auth, registry,
scheduler, storage) is dialled over TLS with the edge's certificate, trusting only the
deployment's CA (EDGE_MTLS_*; docs/deploy.md, "Many hosts and mutual TLS")."""

from __future__ import annotations

from envoy_data_plane.envoy.config.core.v3 import DataSource, TransportSocket
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import (
    CertificateValidationContext,
    CommonTlsContext,
    TlsCertificate,
    UpstreamTlsContext,
)
from envoy_data_plane.google.protobuf import Any as AnyMessage

from gateway.config import BRIDGE_CLUSTER, EdgeSettings


def upstream_tls(
    settings: EdgeSettings, cluster_name: str, *, alpn: str = "h2"
) -> TransportSocket | None:
    """The transport socket of a service cluster; None without mutual TLS (and for the OTLP
    collector, which is not a Shipyard service). `alpn`: "h2" for gRPC, "http/1.1" for
    storage's HTTP transfer endpoints."""
    files = settings.mtls()
    if files is None or cluster_name in ("otlp", BRIDGE_CLUSTER):  # not a service / in-process
        return None
    pair = TlsCertificate(
        certificate_chain=DataSource(filename=str(files.cert.resolve())),
        private_key=DataSource(filename=str(files.key.resolve())),
    )
    common = CommonTlsContext(
        tls_certificates=[pair],
        validation_context=CertificateValidationContext(
            trusted_ca=DataSource(filename=str(files.ca.resolve()))
        ),
        alpn_protocols=[alpn],
    )
    return TransportSocket(
        name="envoy.transport_sockets.tls",
        typed_config=AnyMessage.pack(UpstreamTlsContext(common_tls_context=common)),
    )
