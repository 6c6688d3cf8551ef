"""Egress policy of container kernels on an engine network (`AGENT_CONTAINER_NETWORK=bridge`, ...;
docs/kernel-isolation.md, "Container backend").

Such kernels share the engine's bridge and reach out through the host, so the agent adds an
nftables table of its own (`inet sye_<agent tag>`) before any kernel starts:

- `input`: nothing from the network's subnets reaches this host, on any of its addresses (the
  services, Envoy and its admin port, PostgreSQL, Redis; the bridge's gateway included);
- `forward`: nothing from them reaches the control plane elsewhere: the hosts of the registry,
  Redis and OTLP addresses the agent is configured with, and `AGENT_CONTROL_PLANE_CIDRS`.

Every rule only drops, so the table composes with the engine's own rules and other agents'.
Kernels with `none` or a cluster network need none of this: their namespaces have no way out
but the agent's cluster rules (adapters/cluster_network.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from services.agent.adapters.net_commands import nft, run

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def table_name(agent_id: str) -> str:
    return "sye_" + hashlib.sha256(agent_id.encode()).hexdigest()[:8]


def _host_of(address: str) -> str:
    """The host of "host:port", "[v6]:port" or a URL."""
    if "://" in address:
        return urlsplit(address).hostname or ""
    host = address.rpartition(":")[0] if ":" in address else address
    return host.strip("[]")


def control_plane_networks(addresses: Iterable[str], cidrs: str) -> list[Network]:
    """The networks kernels must not reach: each address's host (resolved; all its records)
    as a single-address network, plus the comma-separated `cidrs`."""
    found: list[Network] = []
    for cidr in (c.strip() for c in cidrs.split(",")):
        if cidr:
            found.append(ipaddress.ip_network(cidr, strict=False))
    for address in addresses:
        host = _host_of(address)
        if not host:
            continue
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            log.warning("cannot resolve %s to keep kernels from it: %s", host, exc)
            continue
        for info in infos:
            found.append(ipaddress.ip_network(str(info[4][0])))
    return sorted(set(found), key=lambda n: (n.version, int(n.network_address), n.prefixlen))


def _set(name: str, networks: Sequence[Network], version: int) -> list[str]:
    kind = "ipv4_addr" if version == 4 else "ipv6_addr"
    lines = [f"  set {name}{version} {{ type {kind}; flags interval; auto-merge;"]
    chosen = [str(n) for n in networks if n.version == version]
    if chosen:
        lines.append(f"    elements = {{ {', '.join(chosen)} }}")
    lines.append("  }")
    return lines


def ruleset(table: str, kernels: Sequence[Network], denied: Sequence[Network]) -> str:
    """The whole table, replacing any earlier one of the same name in one transaction."""
    lines = [f"table inet {table}", f"delete table inet {table}", f"table inet {table} {{"]
    for version in (4, 6):
        lines += _set("kernels", kernels, version)
        lines += _set("denied", denied, version)
    lines += [
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        "    ip saddr @kernels4 drop",
        "    ip6 saddr @kernels6 drop",
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        "    ip saddr @kernels4 ip daddr @denied4 drop",
        "    ip6 saddr @kernels6 ip6 daddr @denied6 drop",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


class EgressPolicy:
    """The agent's table for kernels on engine networks; `install` again replaces it."""

    def __init__(self, agent_id: str) -> None:
        self.table = table_name(agent_id)
        self._installed = False

    async def install(self, kernels: Sequence[Network], denied: Sequence[Network]) -> None:
        await nft(ruleset(self.table, kernels, denied))
        self._installed = True
        log.info(
            "kernels on %s reach neither this host nor %s",
            ", ".join(map(str, kernels)),
            ", ".join(map(str, denied)) or "any other control-plane address",
        )

    async def remove(self) -> None:
        if self._installed:
            await run("nft", "delete", "table", "inet", self.table, check=False)
            self._installed = False
