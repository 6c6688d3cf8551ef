"""ClusterNetworks against the real kernel: namespaces, veths, routes and nftables rules."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from libs.core.errors import FailedPrecondition
from services.agent.adapters.cluster_network import NETNS_DIR, ClusterNetworks
from services.agent.domain.model import KernelNetwork, KernelSpec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("nft", path="/usr/sbin:/sbin") is None,
        reason="needs root, iproute2 and nftables",
    ),
]
PORT = 7071


@pytest.fixture
async def networks() -> AsyncIterator[ClusterNetworks]:
    nets = ClusterNetworks(f"agent-{uuid.uuid4()}", "10.214.9.0/24", unused_ttl=0.2)
    yield nets
    await nets.close()


def _spec(session_id: str, kernel_id: str, hosts: list[tuple[str, str]], name: str) -> KernelSpec:
    return KernelSpec(
        kernel_id=kernel_id,
        session_id=session_id,
        image="",
        cpu=Decimal(1),
        mem_bytes=1,
        cluster_hostname=name,
        cluster_hosts=tuple(hosts),
    )


async def _in_netns(net: KernelNetwork, code: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "nsenter", f"--net={net.netns_path}", "--", sys.executable, "-c", code
    )


def _serve() -> str:
    return (
        "import socket\n"
        "s = socket.create_server(('0.0.0.0', PORT))\n"
        "while True:\n"
        "    c, _ = s.accept()\n"
        "    c.sendall(b'hello')\n"
        "    c.close()\n"
    ).replace("PORT", str(PORT))


def _connect(address: str, attempts: int) -> str:
    """Exits 0 once it read the server's greeting, 1 if no attempt got through."""
    return (
        "import socket, sys, time\n"
        f"for _ in range({attempts}):\n"
        "    try:\n"
        f"        c = socket.create_connection(('{address}', {PORT}), timeout=1)\n"
        "        sys.exit(0 if c.recv(5) == b'hello' else 2)\n"
        "    except OSError:\n"
        "        time.sleep(0.1)\n"
        "sys.exit(1)\n"
    )


def _table_listing() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


async def test_kernels_of_one_session_connect_and_another_sessions_cannot(
    networks: ClusterNetworks,
) -> None:
    s1, s2 = str(uuid.uuid4()), str(uuid.uuid4())
    main, sub, other = (str(uuid.uuid4()) for _ in range(3))
    hosts = await networks.prepare(s1, [(main, "main1"), (sub, "sub1")])
    (other_host,) = await networks.prepare(s2, [(other, "main1")])
    assert [h for h, _ in hosts] == ["main1", "sub1"]
    assert len({a for _, a in [*hosts, other_host]}) == 3
    net_main = await networks.attach(_spec(s1, main, hosts, "main1"))
    net_sub = await networks.attach(_spec(s1, sub, hosts, "sub1"))
    net_other = await networks.attach(_spec(s2, other, [other_host], "main1"))
    assert Path(net_sub.hosts_file).read_text().splitlines()[1:] == [
        f"{hosts[0][1]} main1",
        f"{hosts[1][1]} sub1",
    ]

    server = await _in_netns(net_main, _serve())
    try:
        client = await _in_netns(net_sub, _connect(hosts[0][1], attempts=100))
        assert await client.wait() == 0
        # The same server, still listening, never answers a kernel of another session.
        intruder = await _in_netns(net_other, _connect(hosts[0][1], attempts=3))
        assert await intruder.wait() == 1
        again = await _in_netns(net_sub, _connect(hosts[0][1], attempts=100))
        assert await again.wait() == 0
    finally:
        server.kill()
        await server.wait()


async def test_preparing_again_keeps_the_address_and_release_removes_everything(
    networks: ClusterNetworks,
) -> None:
    sid, kid = str(uuid.uuid4()), str(uuid.uuid4())
    first = await networks.prepare(sid, [(kid, "main1")])
    assert await networks.prepare(sid, [(kid, "main1")]) == first
    with pytest.raises(FailedPrecondition):
        await networks.prepare(str(uuid.uuid4()), [(kid, "main1")])
    net = await networks.attach(_spec(sid, kid, first, "main1"))
    assert Path(net.netns_path).exists()

    await networks.release(kid)

    assert not Path(net.netns_path).exists()
    assert not Path(net.hosts_file).exists()
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert first[0][1] not in routes
    rules = subprocess.run(
        ["nft", "list", "table", "inet", networks._table], capture_output=True, text=True
    ).stdout
    assert kid.replace("-", "") not in rules  # its chains and its session's peer set are gone
    assert sid.replace("-", "") not in rules
    with pytest.raises(FailedPrecondition):
        await networks.attach(_spec(sid, kid, first, "main1"))


async def test_a_network_nobody_attaches_is_released(networks: ClusterNetworks) -> None:
    sid, kid = str(uuid.uuid4()), str(uuid.uuid4())
    await networks.prepare(sid, [(kid, "main1")])
    leftover = [p for p in NETNS_DIR.iterdir() if p.name.endswith(kid)]
    assert leftover
    async with asyncio.timeout(10):
        while leftover[0].exists():  # noqa: ASYNC110 (a file, not an event, tells)
            await asyncio.sleep(0.05)


async def test_close_removes_the_agents_table(networks: ClusterNetworks) -> None:
    sid, kid = str(uuid.uuid4()), str(uuid.uuid4())
    await networks.prepare(sid, [(kid, "main1")])
    table = networks._table
    assert table in _table_listing()
    await networks.close()
    assert table not in _table_listing()
    assert not any(p.name.endswith(kid) for p in NETNS_DIR.iterdir())
