"""Simulated hosts for end-to-end tests: network namespaces joined to this machine by veth pairs.

This machine plays the control plane's host: it gets a "public" address (`10.N.0.1`, on a
bridge without ports), which every simulated host reaches through its own veth pair (host i:
`10.N.i.2` inside, `10.N.i.1` on our end). Each host's cluster kernels use
`10.N.(100+i).0/24`, routed to that host, so kernels of different hosts reach each other as they
would across real machines.
Every name and address is the test's own; `remove` undoes everything (even after a failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

NETNS_DIR = Path("/run/netns")


def missing_tools() -> str | None:
    """Why simulated hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs, nftables)"
    for tool in ("ip", "nft", "sysctl"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            return f"needs {tool} (iproute2, nftables, procps)"
    return None


def ip(*argv: str, check: bool = True) -> None:
    subprocess.run(["ip", *argv], check=check, capture_output=True)


def _sysctl(setting: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "sysctl", "-qw", setting], check=True, capture_output=True)


def _free_second_octet() -> int:
    """A 10.N.0.0/16 no route of this machine touches (outside 10.208.0.0/12 and 10.88/16)."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True)
    used = routes.stdout.decode()
    for _ in range(50):
        n = 150 + secrets.randbelow(40)
        net = ipaddress.IPv4Network(f"10.{n}.0.0/16")
        if f"10.{n}." not in used and not net.overlaps(ipaddress.IPv4Network("10.208.0.0/12")):
            return n
    raise RuntimeError("no free 10.N.0.0/16 for the simulated hosts")


@dataclass
class Hosts:
    tag: str
    octet: int
    count: int
    made: list[str] = field(default_factory=list)  # namespaces created, for removal

    @property
    def public(self) -> str:
        """The control plane's address, reachable from every simulated host."""
        return f"10.{self.octet}.0.1"

    def netns(self, i: int) -> str:
        return f"syh{self.tag}-{i}"

    def address(self, i: int) -> str:
        return f"10.{self.octet}.{i}.2"

    def cluster_cidr(self, i: int) -> str:
        return f"10.{self.octet}.{100 + i}.0/24"

    def link(self, i: int) -> str:
        return f"syh{self.tag}{i}"

    def cut(self, i: int) -> None:
        """Take host i off the network (its end of the cable is pulled)."""
        ip("link", "set", self.link(i), "down")

    def remove(self) -> None:
        for name in self.made:
            ip("netns", "delete", name, check=False)
        for i in range(1, self.count + 1):
            ip("link", "delete", self.link(i), check=False)
            ip("route", "delete", self.cluster_cidr(i), check=False)
        ip("link", "delete", f"syh{self.tag}0", check=False)


def make_hosts(count: int) -> Hosts:
    hosts = Hosts(tag=secrets.token_hex(3), octet=_free_second_octet(), count=count)
    try:
        dummy = f"syh{hosts.tag}0"
        ip("link", "add", dummy, "type", "bridge")
        ip("addr", "add", f"{hosts.public}/32", "dev", dummy)
        ip("link", "set", dummy, "up")
        for i in range(1, count + 1):
            ns, link = hosts.netns(i), hosts.link(i)
            ip("netns", "add", ns)
            hosts.made.append(ns)
            ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("addr", "add", f"10.{hosts.octet}.{i}.1/24", "dev", link)
            ip("link", "set", link, "up")
            _sysctl(f"net.ipv4.conf.{link}.forwarding=1")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "addr", "add", f"{hosts.address(i)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "route", "add", "default", "via", f"10.{hosts.octet}.{i}.1")
            _sysctl("net.ipv4.ip_forward=1", ns)  # the host routes for its cluster kernels
            ip("route", "replace", hosts.cluster_cidr(i), "via", hosts.address(i))
    except BaseException:
        hosts.remove()
        raise
    return hosts


def leftover_kernel_namespaces(agent_tags: list[str]) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return [p.name for tag in agent_tags for p in NETNS_DIR.glob(f"sy{tag}-*")]


class Relay:
    """A TCP relay from `listen` to `target` in a thread of its own: a service that listens on
    loopback only (the shared Redis here) published at the control plane's public address."""

    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self._target = target
        sock = socket.create_server((listen_host, 0))
        self.port: int = sock.getsockname()[1]
        self._sock = sock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, sock=self._sock)
        with contextlib.suppress(asyncio.CancelledError):
            await self._server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        for w in (writer, up_writer):
            with contextlib.suppress(OSError):
                await w.wait_closed()

    def close(self) -> None:
        def stop() -> None:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(timeout=5)
