"""The egress table of container kernels on engine networks: what it drops, built from settings."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import SecretStr, ValidationError

from services.agent.adapters.egress_policy import control_plane_networks, ruleset, table_name
from services.agent.config import Settings


def test_control_plane_networks_come_from_peer_addresses_and_extra_cidrs() -> None:
    found = control_plane_networks(
        ["10.0.0.5:50052", "redis://10.0.0.6:6379/0", "[fd00::7]:4317", ""],
        "192.168.40.0/24, 10.0.0.5/32",
    )
    assert [str(n) for n in found] == [
        "10.0.0.5/32",
        "10.0.0.6/32",
        "192.168.40.0/24",
        "fd00::7/128",
    ]


def test_the_ruleset_drops_kernel_traffic_to_the_host_and_to_the_control_plane() -> None:
    kernels = [ipaddress.ip_network("10.88.0.0/16")]
    denied = [ipaddress.ip_network("10.0.0.5/32"), ipaddress.ip_network("fd00::7/128")]
    text = ruleset("sye_test", kernels, denied)
    assert text.startswith("table inet sye_test\ndelete table inet sye_test\n")
    assert "elements = { 10.88.0.0/16 }" in text
    assert "elements = { 10.0.0.5/32 }" in text
    assert "elements = { fd00::7/128 }" in text
    assert "ip saddr @kernels4 drop" in text
    assert "ip saddr @kernels4 ip daddr @denied4 drop" in text
    assert "accept" not in text.replace("policy accept", "")  # it only ever drops


def test_each_agent_has_its_own_table() -> None:
    assert table_name("a") != table_name("b")
    assert table_name("a").startswith("sye_")


def test_a_malformed_control_plane_cidr_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="control_plane_cidrs"):
        Settings(internal_token=SecretStr("t"), control_plane_cidrs="10.0.0.0/8,nonsense")
