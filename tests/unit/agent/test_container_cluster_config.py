"""A cluster kernel's container joins the namespace prepared for it; others keep theirs."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

from services.agent.adapters.container_config import HostPaths, Isolation, create_body
from services.agent.domain.model import KernelNetwork, KernelSpec

ISOLATION = Isolation(uid=64000, gid=64000, network="none", pids_limit=64, shm_bytes=1 << 20)
PATHS = HostPaths(kernel_dir=Path("/k/k1"), run_dir=Path("/r/k1"))
SPEC = KernelSpec(kernel_id="k1", session_id="s1", image="py", cpu=Decimal(1), mem_bytes=1 << 20)


def _body(spec: KernelSpec) -> dict[str, object]:
    return create_body(spec, agent_id="a1", python="python3", paths=PATHS, isolation=ISOLATION)


def test_a_single_kernel_keeps_the_agents_network() -> None:
    body = _body(SPEC)
    host = body["HostConfig"]
    assert isinstance(host, dict)
    assert host["NetworkMode"] == "none"
    assert "Hostname" not in body
    assert not any(b.endswith(":/etc/hosts:ro") for b in host["Binds"])


def test_a_cluster_kernel_joins_its_namespace_with_its_name_and_hosts_file() -> None:
    net = KernelNetwork(netns_path="/run/netns/sy1-k1", hostname="sub1", hosts_file="/h/k1.hosts")
    body = _body(dataclasses.replace(SPEC, cluster_hostname="sub1", network=net))
    host = body["HostConfig"]
    assert isinstance(host, dict)
    assert host["NetworkMode"] == "ns:/run/netns/sy1-k1"
    assert body["Hostname"] == "sub1"
    assert "/h/k1.hosts:/etc/hosts:ro" in host["Binds"]
