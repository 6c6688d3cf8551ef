"""The control plane over many hosts (docs/deploy.md, "Many hosts and mutual TLS").

Three agents run in network namespaces of their own ("hosts", tests/e2e/netns_hosts.py); the
services listen on this machine's public address only, and every service-to-service call runs
over mutual TLS with per-service and per-agent certificates. An ordinary user's sessions land
on each host, a cluster session spans two of them, kernels reach none of the control plane, and
a host whose link is cut is marked LOST and its session ends `agent-lost` (docs/reliability.md,
R-LOST-GRACE) while the others keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from shipyard.registry.v1.cluster_service_pb2 import ListAgentsRequest
from shipyard.registry.v1.cluster_service_pb2_grpc import ClusterServiceStub

from cli.client import ShipyardClient
from cli.dev_ca import issue_agent
from cli.platform import ROOT, Platform, PlatformConfig
from libs.grpcutil.client import internal_channel
from tests.conftest import create_database, drop_database
from tests.e2e import netns_hosts
from tests.e2e.cluster_roles import role_command
from tests.e2e.test_cluster_sessions import _ended, _kernel, _until, _user

pytestmark = pytest.mark.e2e
HOSTS = 3
MEM = str(256 * 1024 * 1024)
# Exits 0 only if none of the TARGETS ("host:port,...") accepts a connection.
PROBE = """
import socket
for target in TARGETS:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        print("reached", target)
    except OSError:
        pass
print("probed")
"""


@dataclass
class ManyHosts:
    platform: Platform
    hosts: netns_hosts.Hosts
    relay: netns_hosts.Relay
    agents: dict[str, int] = field(default_factory=dict)  # agent id -> host index

    def control_plane(self) -> list[str]:
        """Every control-plane endpoint, by the public address and by loopback, and the
        agents' own."""
        cfg = self.platform.config
        ports = [cfg.port(n) for n in ("auth", "registry", "scheduler", "storage")]
        public = [f"{self.hosts.public}:{p}" for p in [*ports, self.relay.port]]
        loopback = [f"127.0.0.1:{p}" for p in [*ports, 5432, 6379, cfg.edge_admin_port]]
        agents = [f"{self.hosts.address(i)}:50060" for i in self.agents.values()]
        return public + loopback + agents + [f"127.0.0.1:{cfg.edge_port}"]


async def _start_agent(
    platform: Platform, hosts: netns_hosts.Hosts, i: int, relay: netns_hosts.Relay
) -> tuple[str, asyncio.subprocess.Process]:
    agent_id = f"host-{i}-{hosts.tag}"
    address = f"{hosts.address(i)}:50060"
    certs = issue_agent(platform.mtls_dir, agent_id, [hosts.address(i)])
    env = platform.env_for("agent") | {
        "AGENT_AGENT_ID": agent_id,
        "AGENT_BIND": address,
        "AGENT_ADVERTISED_ADDR": address,
        "AGENT_REDIS_URL": f"redis://{hosts.public}:{relay.port}/0",
        "AGENT_KERNEL_ROOT": str(platform.config.data_dir / f"kernels-{i}"),
        "AGENT_CLUSTER_CIDR": hosts.cluster_cidr(i),
        "AGENT_CPU": "4",
        "AGENT_MTLS_CERT_FILE": str(certs.cert),
        "AGENT_MTLS_KEY_FILE": str(certs.key),
    }
    log = (platform.config.data_dir / "logs" / f"{agent_id}.log").open("ab")
    with log:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", hosts.netns(i), sys.executable, "-m", "services.agent"),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    return agent_id, proc


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 25)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.fixture(scope="module")
async def many_hosts(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[ManyHosts]:
    if (why := netns_hosts.missing_tools()) is not None:
        pytest.skip(f"simulated hosts: {why}")
    if not redis_url.startswith("redis://127.0.0.1:"):
        pytest.skip("the relay publishes a loopback Redis only")
    hosts = netns_hosts.make_hosts(HOSTS)
    relay = netns_hosts.Relay(hosts.public, ("127.0.0.1", urlsplit(redis_url).port or 6379))
    db_name, database_url = await create_database()
    config = PlatformConfig.ephemeral(
        tmp_path_factory.mktemp("shipyard-hosts"),
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"e2e-mh:{secrets.token_hex(4)}:",
        host=hosts.public,
        mtls=True,
        start_scheduler_and_agent=False,
        agent_env={"MEM_BYTES": str(4 * 1024**3)},
        registry_env={
            "HEARTBEAT_INTERVAL": "1",
            "HEARTBEAT_TIMEOUT": "4",
            "SWEEP_INTERVAL": "1",
            "LOST_AGENT_GRACE": "3",
        },
    )
    platform = Platform(config)
    agents: list[asyncio.subprocess.Process] = []
    running = ManyHosts(platform, hosts, relay)
    try:
        await platform.start()
        await platform.launch("scheduler", "services.scheduler", env=platform.env_for("scheduler"))
        for i in range(1, HOSTS + 1):
            agent_id, proc = await _start_agent(platform, hosts, i, relay)
            agents.append(proc)
            running.agents[agent_id] = i
        assert platform.keypair is not None
        keys = platform.keypair
        async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as admin:

            async def all_alive() -> bool:
                alive = {a["agent_id"] for a in await admin.list_agents()}
                return alive >= set(running.agents)

            await _until(all_alive, timeout=90)
        yield running
    finally:
        for proc in agents:
            await _stop(proc)
        await platform.stop()
        relay.close()
        tags = [hashlib.sha256(a.encode()).hexdigest()[:8] for a in running.agents]
        for name in netns_hosts.leftover_kernel_namespaces(tags):
            netns_hosts.ip("netns", "delete", name, check=False)
        hosts.remove()
        await drop_database(db_name)


async def _running(client: ShipyardClient, sid: str) -> dict[str, Any]:
    async def up() -> dict[str, Any] | None:
        got = await client.get_session(sid)
        assert got["status"] not in ("SESSION_STATUS_CANCELLED", "SESSION_STATUS_ERROR"), got
        return got if got["status"] == "SESSION_STATUS_RUNNING" else None

    result = await _until(up, timeout=120)
    assert isinstance(result, dict)
    return result


async def test_sessions_on_three_hosts_a_cluster_across_two_and_a_lost_host(
    many_hosts: ManyHosts,
) -> None:
    platform, hosts = many_hosts.platform, many_hosts.hosts
    # Mutual TLS is on: the internal token over plaintext opens nothing.
    async with internal_channel(platform.address("registry"), platform.internal_token) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await ClusterServiceStub(plain).ListAgents(ListAgentsRequest(), timeout=5)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    async with _user(platform) as alice:
        # 3 of an agent's 4 CPUs each: one session per host.
        created = [
            await alice.create_session(resources={"cpu": "3", "mem": MEM}) for _ in range(HOSTS)
        ]
        sessions = [await _running(alice, s["session_id"]) for s in created]
        placed = {s["kernels"][0]["agent_id"]: s["session_id"] for s in sessions}
        assert set(placed) == set(many_hosts.agents)

        # Each runs code, and reaches no control-plane endpoint on any address.
        targets = many_hosts.control_plane()
        for sid in placed.values():
            assert (await alice.execute(sid, "print(6*7)"))["stdout"] == "42\n"
            probe = f"TARGETS = {targets!r}\n{PROBE}"
            assert (await alice.execute(sid, probe))["stdout"] == "probed\n"

        # A cluster session spans two hosts (1 CPU left on each) and its kernels talk, while
        # probing the control plane in vain.
        cluster = await alice.create_session(
            session_type="SESSION_TYPE_BATCH",
            startup_command=role_command(probe=True),
            cluster_size=2,
            cluster_mode="CLUSTER_MODE_MULTI_NODE",
            resources={"cpu": "1", "mem": MEM},
            environ={"TARGETS": ",".join(targets)},
        )
        ended = await _ended(alice, cluster["session_id"])
        main, sub = _kernel(ended, "main1"), _kernel(ended, "sub1")
        assert main["agent_id"] != sub["agent_id"]
        assert [main.get("exit_code", 0), sub.get("exit_code", 0)] == [0, 0], ended
        assert ended["status"] == "SESSION_STATUS_TERMINATED", ended
        prefix = f"10.{hosts.octet}."
        assert main["cluster_address"].startswith(prefix), main
        assert sub["cluster_address"].startswith(prefix), sub

        # One host loses its link: its agent goes LOST, its session ends after the grace.
        victim = sorted(placed)[0]
        hosts.cut(many_hosts.agents[victim])
        keys = platform.keypair
        assert keys is not None
        async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as admin:

            async def lost() -> bool:
                agents = {a["agent_id"]: a["status"] for a in await admin.list_agents()}
                return agents[victim] == "STATUS_LOST"

            await _until(lost, timeout=60)
        gone = await _ended(alice, placed[victim])
        assert (gone["status"], gone["status_info"]) == ("SESSION_STATUS_TERMINATED", "agent-lost")

        # The other hosts' sessions are untouched and still answer.
        for agent_id, sid in placed.items():
            if agent_id == victim:
                continue
            assert (await alice.get_session(sid))["status"] == "SESSION_STATUS_RUNNING"
            assert (await alice.execute(sid, "print(7*6)"))["stdout"] == "42\n"
            await alice.destroy_session(sid)
