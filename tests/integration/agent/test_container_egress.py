"""Container kernels on an engine network (Podman's bridge here) reach the outside but neither
this host nor the control plane elsewhere (services/agent/adapters/egress_policy.py).

The "elsewhere" is a network namespace of the test's own with two addresses, both listening:
one is declared a control-plane address (AGENT_CONTROL_PLANE_CIDRS), the other is not, so a
refusal there is the policy's doing and not a routing gap.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.agent.adapters.container_engine import Engine
from services.agent.adapters.egress_policy import table_name
from services.agent.backends import make_backend
from services.agent.config import Settings
from services.agent.domain import model as m
from services.agent.service.ports import KernelBackend
from tests.conftest import INTERNAL_TOKEN
from tests.container_engine import PYTHON_IMAGE, engine_url, ensure_test_images
from tests.e2e import netns_hosts
from tests.e2e.test_cluster_sessions import _host_address

pytestmark = pytest.mark.integration
PORT = 7071
LISTEN = f"import socket, time; s = socket.create_server(('0.0.0.0', {PORT})); time.sleep(600)"
REACH = """
import socket
def reach(host, port):
    try:
        socket.create_connection((host, port), 3).close()
        return "open"
    except OSError:
        return "closed"
print(*[reach(h, p) for h, p in TARGETS])
"""


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, str]]:
    """(control-plane address, ordinary address) of another "host", both listening on PORT."""
    if (why := netns_hosts.missing_tools()) is not None:
        pytest.skip(why)
    hosts = netns_hosts.make_hosts(1)
    listener = None
    try:
        other = f"10.{hosts.octet}.1.3"
        netns_hosts.ip("-n", hosts.netns(1), "addr", "add", f"{other}/24", "dev", "eth0")
        listener = subprocess.Popen(
            ["ip", "netns", "exec", hosts.netns(1), sys.executable, "-c", LISTEN]
        )
        yield hosts.address(1), other
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        hosts.remove()


@pytest.fixture
async def guarded(elsewhere: tuple[str, str], redis_url: str) -> AsyncIterator[KernelBackend]:
    url = await engine_url()
    await ensure_test_images()
    with tempfile.TemporaryDirectory(prefix="sye-", dir="/tmp") as root:
        settings = Settings(
            internal_token=SecretStr(INTERNAL_TOKEN),
            redis_url=redis_url,
            backend="container",
            docker_host=url,
            container_network="bridge",
            control_plane_cidrs=f"{elsewhere[0]}/32",
            kernel_root=Path(root),
            kernel_uid=1000,
            kernel_gid=1000,
        )

        async def no_pull(spec: m.KernelSpec) -> None:
            return None

        backend, _ = await make_backend(settings, f"egress-{uuid.uuid4().hex[:8]}", no_pull)
        try:
            yield backend
        finally:
            await backend.close()


async def _gateway(url: str) -> str:
    engine = Engine(url)
    try:
        subnet = (await engine.network_subnets("bridge"))[0]
    finally:
        await engine.close()
    return str(next(ipaddress.ip_network(subnet).hosts()))


async def test_bridge_kernels_reach_out_but_not_the_host_or_the_control_plane(
    guarded: KernelBackend, elsewhere: tuple[str, str]
) -> None:
    control_plane, ordinary = elsewhere
    # A service of this host, as the control plane's would be; it does answer from here.
    host_ip = _host_address()
    service = socket.create_server(("0.0.0.0", 0))
    port = service.getsockname()[1]
    socket.create_connection((host_ip, port), timeout=2).close()
    targets = [
        (ordinary, PORT),
        (control_plane, PORT),
        (host_ip, port),
        (await _gateway(await engine_url()), port),
        (f"10.{control_plane.split('.')[1]}.1.1", port),  # this host's end of the link
    ]
    spec = m.KernelSpec(
        kernel_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        image=PYTHON_IMAGE,
        cpu=Decimal("0.5"),
        mem_bytes=128 << 20,
    )
    try:
        await guarded.create(spec)
        code = f"TARGETS = {targets!r}\n{REACH}"
        result = await guarded.execute(spec.kernel_id, m.ExecMode.QUERY, code, 60)
    finally:
        service.close()
    assert result.status is m.ExecStatus.FINISHED, result
    assert result.stdout.split() == ["open", "closed", "closed", "closed", "closed"]


async def test_the_policy_goes_with_the_agent() -> None:
    if (why := netns_hosts.missing_tools()) is not None:
        pytest.skip(why)
    url = await engine_url()
    agent_id = f"egress-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="sye-", dir="/tmp") as root:
        settings = Settings(
            internal_token=SecretStr(INTERNAL_TOKEN),
            backend="container",
            docker_host=url,
            container_network="bridge",
            kernel_root=Path(root),
        )

        async def no_pull(spec: m.KernelSpec) -> None:
            return None

        backend, _ = await make_backend(settings, agent_id, no_pull)
        listed = subprocess.run(["nft", "list", "table", "inet", table_name(agent_id)])
        assert listed.returncode == 0
        await backend.close()
    gone = subprocess.run(
        ["nft", "list", "table", "inet", table_name(agent_id)], capture_output=True
    )
    assert gone.returncode != 0
