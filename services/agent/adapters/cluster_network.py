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
import contextlib
import hashlib
import ipaddress
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from libs.core.errors import FailedPrecondition, InvalidArgument
from services.agent.domain import model as m

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
GATEWAY = "169.254.1.1"  # the kernels' next hop: the host end of their veth, by MAC only
GATEWAY_MAC = "ee:ee:ee:ee:ee:ee"
CLUSTER_SUPERNET = ipaddress.IPv4Network("10.208.0.0/12")
UNUSED_TTL = 120.0
_TABLE_RULES = """
table inet {t} {{
  set ifs {{ type ifname; }}
  map out {{ type ifname : verdict; }}
  map in {{ type ifname : verdict; }}
  chain input {{ type filter hook input priority filter; policy accept; iifname @ifs drop; }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname vmap @out
    oifname vmap @in
  }}
}}
"""


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
            await _run("nft", "delete", "table", "inet", self._table, check=False)
            for name in await asyncio.to_thread(self._leftover_namespaces):
                await _run("ip", "netns", "delete", name, check=False)
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
                await _nft(
                    f"add element inet {self._table} {_peers(spec.session_id)} {{ {elements} }}"
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
        t, veth, k = self._table, prepared.veth, _name(kernel_id)
        script = [
            f'delete element inet {t} out {{ "{veth}" }}',
            f'delete element inet {t} in {{ "{veth}" }}',
            f'delete element inet {t} ifs {{ "{veth}" }}',
            f"delete chain inet {t} o_{k}",
            f"delete chain inet {t} i_{k}",
        ]
        if not any(p.session_id == prepared.session_id for p in self._kernels.values()):
            script.append(f"delete set inet {t} {_peers(prepared.session_id)}")
        await _run("ip", "netns", "delete", prepared.netns, check=False)
        await _nft("\n".join(script), check=False)
        if self._dir is not None:
            (self._dir / f"{kernel_id}.hosts").unlink(missing_ok=True)

    async def close(self) -> None:
        for kernel_id in list(self._kernels):
            await self.release(kernel_id)
        if self._table_ready:
            await _run("nft", "delete", "table", "inet", self._table, check=False)
            self._table_ready = False
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- internals --------------------------------------------------------------------------

    async def _ensure_table(self) -> None:
        if not self._table_ready:
            await _nft(_TABLE_RULES.format(t=self._table))
            self._table_ready = True

    async def _create(self, session_id: str, kernel_id: str, hostname: str) -> _Prepared:
        address = self._free_address()
        k = _name(kernel_id)
        netns = f"sy{self._tag}-{kernel_id}"
        veth = "sy" + hashlib.sha256(f"{self._tag}/{kernel_id}".encode()).hexdigest()[:13]
        t, peers = self._table, _peers(session_id)
        # The drop rules exist before the link does: nothing flows until attach().
        await _nft(
            "\n".join(
                [
                    f"add set inet {t} {peers} {{ type ipv4_addr; }}",
                    f"add chain inet {t} o_{k}",
                    f"add rule inet {t} o_{k} meta nfproto ipv6 drop",
                    f"add rule inet {t} o_{k} ip daddr != @{peers} drop",
                    f"add chain inet {t} i_{k}",
                    f"add rule inet {t} i_{k} meta nfproto ipv6 drop",
                    f"add rule inet {t} i_{k} ip saddr != @{peers} drop",
                    f'add element inet {t} ifs {{ "{veth}" }}',
                    f'add element inet {t} out {{ "{veth}" : jump o_{k} }}',
                    f'add element inet {t} in {{ "{veth}" : jump i_{k} }}',
                ]
            )
        )
        prepared = _Prepared(session_id, hostname, address, netns, veth)
        self._kernels[kernel_id] = prepared
        try:
            for argv in _link_commands(netns, veth, address):
                await _run(*argv)
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


_PEER = ("type", "veth", "peer", "name", "eth0")
_STATIC = ("dev", "eth0", "nud", "permanent")


def _link_commands(netns: str, veth: str, address: str) -> list[list[str]]:
    inside = ["ip", "-n", netns]
    return [
        ["ip", "netns", "add", netns],
        ["ip", "link", "add", veth, "address", GATEWAY_MAC, *_PEER, "netns", netns],
        ["sysctl", "-qw", f"net.ipv6.conf.{veth}.disable_ipv6=1"],
        ["sysctl", "-qw", f"net.ipv4.conf.{veth}.forwarding=1"],
        ["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
        [*inside, "link", "set", "lo", "up"],
        [*inside, "addr", "add", f"{address}/32", "dev", "eth0"],
        [*inside, "link", "set", "eth0", "up"],
        [*inside, "neigh", "replace", GATEWAY, "lladdr", GATEWAY_MAC, *_STATIC],
        [*inside, "route", "add", GATEWAY, "dev", "eth0", "scope", "link"],
        [*inside, "route", "add", "default", "via", GATEWAY, "dev", "eth0"],
        ["ip", "link", "set", veth, "up"],
        ["ip", "route", "replace", f"{address}/32", "dev", veth, "scope", "link"],
    ]


def _name(identifier: str) -> str:
    return identifier.replace("-", "")


def _peers(session_id: str) -> str:
    return f"peers_{_name(session_id)}"


async def _nft(script: str, *, check: bool = True) -> None:
    await _run("nft", "-f", "-", stdin=script.encode(), check=check)


async def _run(*argv: str, stdin: bytes | None = None, check: bool = True) -> None:
    tool = shutil.which(argv[0], path="/usr/sbin:/usr/bin:/sbin:/bin")
    if tool is None:
        raise FailedPrecondition(f"cluster networking needs {argv[0]} (iproute2, nftables)")
    proc = await asyncio.create_subprocess_exec(
        tool,
        *argv[1:],
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate(stdin)
    if proc.returncode != 0 and check:
        detail = err.decode(errors="replace").strip()
        raise m.KernelStartFailed(f"{' '.join(argv[:4])} failed: {detail}")
    if proc.returncode != 0:
        with contextlib.suppress(Exception):
            log.debug("%s failed: %s", " ".join(argv[:4]), err.decode(errors="replace").strip())
