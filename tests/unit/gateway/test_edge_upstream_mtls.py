"""With EDGE_MTLS_*, Envoy dials every service cluster over mutual TLS (static bootstrap and
xDS alike); the OTLP collector, not a Shipyard service, stays plaintext."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from gateway.config import EdgeSettings
from gateway.envoy_config import as_json, build_bootstrap
from gateway.xds import resources
from gateway.xds.state import ControlPlaneState

UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"


def edge(tmp_path: Path, **extra: Any) -> EdgeSettings:
    return EdgeSettings(
        internal_token=SecretStr("t"),
        otlp_endpoint="127.0.0.1:4317",
        mtls_cert_file=tmp_path / "edge.pem",
        mtls_key_file=tmp_path / "edge-key.pem",
        mtls_ca_file=tmp_path / "ca.pem",
        **extra,
    )


def test_static_clusters_present_the_edge_certificate_and_trust_only_the_ca(
    tmp_path: Path,
) -> None:
    clusters = as_json(build_bootstrap(edge(tmp_path, xds=False)))["static_resources"]["clusters"]
    by_name = {c["name"]: c for c in clusters}
    for name in ("auth", "registry", "scheduler", "storage"):
        tls = by_name[name]["transport_socket"]["typed_config"]
        assert tls["@type"] == UPSTREAM_TLS
        common = tls["common_tls_context"]
        assert common["tls_certificates"][0]["certificate_chain"]["filename"].endswith("edge.pem")
        assert common["validation_context"]["trusted_ca"]["filename"].endswith("ca.pem")
        assert common["alpn_protocols"] == ["h2"]
    assert "transport_socket" not in by_name["otlp"]


def test_xds_clusters_carry_the_same_transport_socket(tmp_path: Path) -> None:
    settings = edge(tmp_path)
    state = ControlPlaneState(settings)
    clusters = resources.upstream_clusters(settings)
    assert {"auth", "registry", "otlp"} <= set(clusters)
    for name, addrs in clusters.items():
        packed, _ = state._packed_cluster(name, addrs)
        assert (b"UpstreamTlsContext" in bytes(packed.value)) is (name != "otlp")
