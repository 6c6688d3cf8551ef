"""Cluster networks for kernels of cluster sessions (docs/cluster-sessions.md, kernel-isolation.md).

Each kernel of a cluster session gets its own network namespace `sy<tag>-<kernel id>`, joined
to the host by a veth pair: inside, `eth0` holds the kernel's /32 address from this agent's
cluster CIDR and a default route through a fixed link-local next hop (a static neighbour
entry, so the host needs no address on the link); outside, a /32 route leads back to it. The
host forwards between kernels; an nftables table of this agent's own (`inet sy_<tag>`) keeps
everything else out, before the link comes up:

- `input`: nothing from a kernel's veth reaches the host itself (services, Envoy, databases);
- `forward`: a kernel's packets may go only to, and come only from, the addresses of its own
  session (`peers_<session>`, empty until CreateKernels names the peers); IPv6 is dropped.

Every rule only drops, so the tables of several agents on one host compose. Addresses of
another agent's kernels are reached by routing between the agents' hosts (on one host, the
/32 routes already do it). A namespace prepared but never used is released after `unused_ttl`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from libs.core.errors import FailedPrecondition, InvalidArgument
from services.agent.adapters.net_commands import (
    TABLE_RULES,
    kernel_rules,
    link_commands,
    nft,
    peers_set,
    release_rules,
    run,
)
from services.agent.domain import model as m

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
CLUSTER_SUPERNET = ipaddress.IPv4Network("10.208.0.0/12")
UNUSED_TTL = 120.0


def default_cidr(agent_id: str) -> str:
    """A /24 of 10.208.0.0/12 chosen by the agent id (set AGENT_CLUSTER_CIDR to pick one)."""
    index = int.from_bytes(hashlib.sha256(agent_id.encode()).digest()[:2], "big") % 4096
    return str(ipaddress.IPv4Network((int(CLUSTER_SUPERNET.network_address) + index * 256, 24)))


@dataclass(slots=True)
class _Prepared:
    session_id: str
    hostname: str
    address: str
    netns: str
    veth: str
    attached: bool = False


class ClusterNetworks:
    """Namespaces, veths, routes and filter rules of this agent's cluster kernels."""

    def __init__(self, agent_id: str, cidr: str = "", *, unused_ttl: float = UNUSED_TTL) -> None:
        try:
            self._net = ipaddress.IPv4Network(cidr or default_cidr(agent_id))
        except ValueError as exc:
            raise InvalidArgument(f"AGENT_CLUSTER_CIDR: {exc}") from exc
        self._tag = hashlib.sha256(agent_id.encode()).hexdigest()[:8]
        self._table = f"sy_{self._tag}"
        self._unused_ttl = unused_ttl
        self._kernels: dict[str, _Prepared] = {}
        self._lock = asyncio.Lock()
        self._table_ready = False
        self._dir: Path | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}

    async def reset(self) -> None:
        """Remove what a previous run of this agent left: its table and namespaces."""
        try:
            await run("nft", "delete", "table", "inet", self._table, check=False)
            for name in await asyncio.to_thread(self._leftover_namespaces):
                await run("ip", "netns", "delete", name, check=False)
        except FailedPrecondition as exc:  # no nft/ip here: cluster sessions fail when asked
            log.warning("cluster networking unavailable: %s", exc.message)

    def _leftover_namespaces(self) -> list[str]:
        if not NETNS_DIR.is_dir():
            return []
        return [ns.name for ns in NETNS_DIR.glob(f"sy{self._tag}-*")]

    async def prepare(
        self, session_id: str, kernels: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """(host name, address) of each (kernel id, host name); a kernel prepared before keeps
        its address. Its traffic is dropped until `attach` names its session's peers."""
        async with self._lock:
            await self._ensure_table()
            published = []
            for kernel_id, hostname in kernels:
                known = self._kernels.get(kernel_id)
                if known is None:
                    known = await self._create(session_id, kernel_id, hostname)
                elif known.session_id != session_id:
                    msg = f"kernel {kernel_id} belongs to session {known.session_id}"
                    raise FailedPrecondition(msg, metadata={"kernel_id": kernel_id})
                published.append((hostname, known.address))
            return published

    async def attach(self, spec: m.KernelSpec) -> m.KernelNetwork:
        """Open the kernel's network to its session's peers and write its hosts file."""
        async with self._lock:
            prepared = self._kernels.get(spec.kernel_id)
            if prepared is None or prepared.session_id != spec.session_id:
                msg = f"kernel {spec.kernel_id} has no prepared cluster network on this agent"
                raise FailedPrecondition(msg, metadata={"kernel_id": spec.kernel_id})
            prepared.attached = True
            if (timer := self._timers.pop(spec.kernel_id, None)) is not None:
                timer.cancel()
            addresses = sorted({str(ipaddress.IPv4Address(a)) for _, a in spec.cluster_hosts})
            if addresses:
                elements = ", ".join(addresses)
                await nft(
                    f"add element inet {self._table} {peers_set(spec.session_id)} {{ {elements} }}"
                )
            hosts = self._state_dir() / f"{spec.kernel_id}.hosts"
            lines = ["127.0.0.1 localhost"]
            lines += [f"{ipaddress.IPv4Address(a)} {name}" for name, a in spec.cluster_hosts]
            hosts.write_text("\n".join(lines) + "\n")
            hosts.chmod(0o644)
            return m.KernelNetwork(
                netns_path=str(NETNS_DIR / prepared.netns),
                hostname=prepared.hostname,
                hosts_file=str(hosts),
            )

    async def release(self, kernel_id: str) -> None:
        """Remove the kernel's namespace, veth and rules; unknown kernels are a no-op."""
        async with self._lock:
            await self._release(kernel_id)

    async def _release(self, kernel_id: str) -> None:
        prepared = self._kernels.pop(kernel_id, None)
        if (timer := self._timers.pop(kernel_id, None)) is not None:
            timer.cancel()
        if prepared is None:
            return
        script = release_rules(self._table, kernel_id, prepared.veth)
        if not any(p.session_id == prepared.session_id for p in self._kernels.values()):
            script.append(f"delete set inet {self._table} {peers_set(prepared.session_id)}")
        await run("ip", "netns", "delete", prepared.netns, check=False)
        await nft("\n".join(script), check=False)
        if self._dir is not None:
            (self._dir / f"{kernel_id}.hosts").unlink(missing_ok=True)

    async def close(self) -> None:
        for kernel_id in list(self._kernels):
            await self.release(kernel_id)
        if self._table_ready:
            await run("nft", "delete", "table", "inet", self._table, check=False)
            self._table_ready = False
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- internals --------------------------------------------------------------------------

    async def _ensure_table(self) -> None:
        if not self._table_ready:
            await nft(TABLE_RULES.format(t=self._table))
            self._table_ready = True

    async def _create(self, session_id: str, kernel_id: str, hostname: str) -> _Prepared:
        address = self._free_address()
        netns = f"sy{self._tag}-{kernel_id}"
        veth = "sy" + hashlib.sha256(f"{self._tag}/{kernel_id}".encode()).hexdigest()[:13]
        # The drop rules exist before the link does: nothing flows until attach().
        await nft(kernel_rules(self._table, kernel_id, session_id, veth))
        prepared = _Prepared(session_id, hostname, address, netns, veth)
        self._kernels[kernel_id] = prepared
        try:
            for argv in link_commands(netns, veth, address):
                await run(*argv)
        except BaseException:
            await self._release(kernel_id)
            raise
        loop = asyncio.get_running_loop()
        self._timers[kernel_id] = loop.call_later(self._unused_ttl, self._expire, kernel_id)
        return prepared

    def _expire(self, kernel_id: str) -> None:
        self._timers.pop(kernel_id, None)
        prepared = self._kernels.get(kernel_id)
        if prepared is not None and not prepared.attached:
            log.warning("releasing the unused cluster network of kernel %s", kernel_id)
            task = asyncio.get_running_loop().create_task(self.release(kernel_id))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _free_address(self) -> str:
        used = {p.address for p in self._kernels.values()}
        # .1 is left out: it looks like a gateway to people reading addresses.
        for host in list(self._net.hosts())[1:]:
            if str(host) not in used:
                return str(host)
        msg = f"no free cluster address left in {self._net} on this agent"
        raise FailedPrecondition(msg, reason="CLUSTER_ADDRESSES_EXHAUSTED")

    def _state_dir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="shipyard-net-"))
            self._dir.chmod(0o711)  # the kernel uid reads its own hosts file by name
        return self._dir
