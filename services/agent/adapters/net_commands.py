"""The root network tools behind kernel networking (iproute2, sysctl, nftables): running them,
and the commands that build one cluster kernel's namespace, veth and filter chains
(`cluster_network.py`; the egress policy uses `run` and `nft` too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil

from libs.core.errors import FailedPrecondition
from services.agent.domain import model as m

log = logging.getLogger(__name__)

GATEWAY = "169.254.1.1"  # the kernels' next hop: the host end of their veth, by MAC only
GATEWAY_MAC = "ee:ee:ee:ee:ee:ee"
TABLE_RULES = """
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

_PEER = ("type", "veth", "peer", "name", "eth0")
_STATIC = ("dev", "eth0", "nud", "permanent")


def link_commands(netns: str, veth: str, address: str) -> list[list[str]]:
    """The namespace, its veth pair, the kernel's /32 address and routes, in order."""
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


def kernel_rules(table: str, kernel_id: str, session_id: str, veth: str) -> str:
    """The kernel's chains: its packets go only to, and come only from, its session's peers."""
    t, k, peers = table, _name(kernel_id), peers_set(session_id)
    return "\n".join(
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


def release_rules(table: str, kernel_id: str, veth: str) -> list[str]:
    t, k = table, _name(kernel_id)
    return [
        f'delete element inet {t} out {{ "{veth}" }}',
        f'delete element inet {t} in {{ "{veth}" }}',
        f'delete element inet {t} ifs {{ "{veth}" }}',
        f"delete chain inet {t} o_{k}",
        f"delete chain inet {t} i_{k}",
    ]


def peers_set(session_id: str) -> str:
    """The nftables set of a session's kernel addresses."""
    return f"peers_{_name(session_id)}"


def _name(identifier: str) -> str:
    return identifier.replace("-", "")


async def nft(script: str, *, check: bool = True) -> None:
    await run("nft", "-f", "-", stdin=script.encode(), check=check)


async def run(*argv: str, stdin: bytes | None = None, check: bool = True) -> None:
    """Run a system network tool; a failure is KernelStartFailed unless `check` is off."""
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
