"""Cluster sessions end to end: two process-backend agents, kernels that reach each other by
host name, and nothing else (docs/cluster-sessions.md).

The platform runs as `shipyard up` starts it, plus a second agent process; every session is an
ordinary user's. Kernels are batch kernels whose startup command plays its role: main1 serves
TCP, the subs connect to "main1" and check the reply; exit codes tell the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cli.client import ShipyardClient
from cli.infra import free_port
from cli.platform import ROOT, Platform, PlatformConfig
from tests.conftest import create_database, drop_database
from tests.e2e.cluster_roles import PORT, role_command
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e
T = TypeVar("T")
MEM = str(256 * 1024 * 1024)


@pytest.fixture(scope="module")
async def two_agents(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Platform]:
    """The platform (one agent, 2 CPUs) and a second agent process (2 CPUs) beside it."""
    db_name, database_url = await create_database()
    data_dir: Path = tmp_path_factory.mktemp("shipyard-cluster")
    config = PlatformConfig.ephemeral(
        data_dir,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"e2e-cl:{secrets.token_hex(4)}:",
        agent_env={"CPU": "2", "MEM_BYTES": str(4 * 1024**3), "CLUSTER_CIDR": "10.213.1.0/24"},
    )
    platform = Platform(config)
    await platform.start()
    env = platform.env_for("agent")
    env |= {
        "AGENT_BIND": f"127.0.0.1:{free_port()}",
        "AGENT_AGENT_ID": f"agent-second-{secrets.token_hex(3)}",
        "AGENT_KERNEL_ROOT": str(data_dir / "kernels-second"),
        "AGENT_CLUSTER_CIDR": "10.213.2.0/24",
    }
    with (data_dir / "logs" / "agent-second.log").open("ab") as out:
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.agent",
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        assert platform.keypair is not None
        keys = platform.keypair
        async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as admin:

            async def both_alive() -> bool:
                agents = await admin.list_agents()
                return sum(a["status"] == "STATUS_ALIVE" for a in agents) == 2

            await _until(both_alive, timeout=60)
        yield platform
    finally:
        second.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(second.wait(), 20)
        if second.returncode is None:
            second.kill()
            await second.wait()
        await platform.stop()
        await drop_database(db_name)


@contextlib.asynccontextmanager
async def _user(platform: Platform) -> AsyncIterator[ShipyardClient]:
    keys = await ordinary_user(platform)
    async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as c:
        yield c


async def _until(
    check: Callable[[], Awaitable[T | bool | None]], timeout: float = 60.0
) -> T | bool:
    async with asyncio.timeout(timeout):
        while True:
            if result := await check():
                return result
            await asyncio.sleep(0.3)


def _kernel(session: dict[str, Any], hostname: str) -> dict[str, Any]:
    return next(k for k in session["kernels"] if k["cluster_hostname"] == hostname)


async def _ended(client: ShipyardClient, sid: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        got = await client.get_session(sid)
        dead = ("TERMINATED", "CANCELLED", "ERROR")
        return got if got["status"].removeprefix("SESSION_STATUS_") in dead else None

    result = await _until(done, timeout=120)
    assert isinstance(result, dict)
    return result


async def _create_batch(
    client: ShipyardClient, mode: str, size: int, cpu: str, command: str, **extra: Any
) -> dict[str, Any]:
    return await client.create_session(
        session_type="SESSION_TYPE_BATCH",
        startup_command=command,
        cluster_size=size,
        cluster_mode=f"CLUSTER_MODE_{mode}",
        resources={"cpu": cpu, "mem": MEM},
        **extra,
    )


async def test_multi_node_kernels_on_two_agents_reach_each_other_by_host_name(
    two_agents: Platform,
) -> None:
    async with _user(two_agents) as alice:
        # 2 CPUs per kernel: no agent fits both, so the kernels must spread.
        created = await _create_batch(alice, "MULTI_NODE", 2, "2", role_command())
        assert created["cluster_mode"] == "CLUSTER_MODE_MULTI_NODE"
        assert created["cluster_size"] == 2
        ended = await _ended(alice, created["session_id"])

    main, sub = _kernel(ended, "main1"), _kernel(ended, "sub1")
    assert (main["cluster_role"], main["cluster_idx"], main.get("local_rank", 0)) == ("main", 1, 0)
    assert (sub["cluster_role"], sub["cluster_idx"], sub["local_rank"]) == ("sub", 1, 1)
    assert main["agent_id"] != sub["agent_id"]
    assert main["cluster_address"].startswith("10.213.")
    assert sub["cluster_address"].startswith("10.213.")
    assert main["cluster_address"] != sub["cluster_address"]
    # Exit codes: 0 both means sub1 reached main1 by name and got main1's answer back.
    assert [main.get("exit_code", 0), sub.get("exit_code", 0)] == [0, 0], ended
    assert ended["status"] == "SESSION_STATUS_TERMINATED", ended


async def test_single_node_kernels_talk_and_other_sessions_and_the_host_stay_unreachable(
    two_agents: Platform,
) -> None:
    await _talk_and_stay_isolated(two_agents)


async def test_container_kernels_talk_and_other_sessions_and_the_host_stay_unreachable(
    container_platform: Platform,
) -> None:
    await _talk_and_stay_isolated(container_platform)


async def _talk_and_stay_isolated(platform: Platform) -> None:
    """A single-node pair talks; another user's cluster then probes it and the host, in vain."""
    # A service of the host (as the control plane's would be), reachable from the host itself.
    host_ip = _host_address()
    listener = socket.create_server(("0.0.0.0", 0))
    host_port = listener.getsockname()[1]
    with socket.create_connection((host_ip, host_port), timeout=2):
        pass  # it does answer: a refusal below is the sandbox's doing
    try:
        async with _user(platform) as alice, _user(platform) as mallory:
            lingering = await _create_batch(
                alice, "SINGLE_NODE", 2, "0.5", role_command(), environ={"LINGER": "1"}
            )
            sid = lingering["session_id"]

            async def sub_done() -> dict[str, Any] | None:
                got = await alice.get_session(sid)
                sub = _kernel(got, "sub1")
                return got if sub["status"] == "SESSION_STATUS_TERMINATED" else None

            served = await _until(sub_done, timeout=120)
            assert isinstance(served, dict)
            main, sub = _kernel(served, "main1"), _kernel(served, "sub1")
            assert main["agent_id"] == sub["agent_id"]  # single-node: one agent
            assert sub.get("exit_code", 0) == 0, served
            assert main["status"] == "SESSION_STATUS_RUNNING"  # still serving on PORT

            targets = [f"{main['cluster_address']}:{PORT}", f"{host_ip}:{host_port}"]
            targets += [f"169.254.1.1:{host_port}"]
            probing = await _create_batch(
                mallory,
                "MULTI_NODE",
                2,
                "0.5",
                role_command(probe=True),
                environ={"TARGETS": ",".join(targets)},
            )
            probed = await _ended(mallory, probing["session_id"])
            still = await alice.get_session(sid)
            await alice.destroy_session(sid)
    finally:
        listener.close()

    codes = [k.get("exit_code", 0) for k in probed["kernels"]]
    # 0: nothing outside the session answered, and the probing session's own pair still talked.
    assert codes == [0, 0], probed
    # The target kept listening the whole time: the refusals were not for want of a server.
    assert _kernel(still, "main1")["status"] == "SESSION_STATUS_RUNNING"


async def test_single_node_cluster_larger_than_any_agent_stays_pending_unplaced(
    two_agents: Platform,
) -> None:
    async with _user(two_agents) as alice:
        created = await alice.create_session(
            cluster_size=3,
            cluster_mode="CLUSTER_MODE_SINGLE_NODE",
            resources={"cpu": "1", "mem": MEM},
        )
        sid = created["session_id"]

        async def explained() -> dict[str, Any] | None:
            got = await alice.get_session(sid)
            return got if got["status_info"] else None

        got = await _until(explained)
        assert isinstance(got, dict)
        assert got["status"] == "SESSION_STATUS_PENDING"
        assert got["status_info"] == "no-available-instances"
        assert got["status_message"].startswith("single-node cluster of 3 kernels needs one agent")
        assert [k.get("agent_id", "") for k in got["kernels"]] == ["", "", ""]
        assert [k["cluster_hostname"] for k in got["kernels"]] == ["main1", "sub1", "sub2"]
        cancelled = await alice.destroy_session(sid)
        assert cancelled["status"] == "SESSION_STATUS_CANCELLED"


def _host_address() -> str:
    """This machine's first global IPv4 address (not loopback)."""
    out = subprocess.run(
        ["ip", "-4", "-j", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for link in json.loads(out):
        for info in link.get("addr_info", []):
            if not link["ifname"].startswith("sy"):
                return str(info["local"])
    pytest.skip("no global IPv4 address on this machine")
