"""Starting cluster sessions against the real database: agents publish kernel addresses, the
registry records them and hands every kernel the host list and the BACKENDAI_CLUSTER_* env."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

import pytest

from libs.core.errors import FailedPrecondition
from libs.core.ids import new_id
from libs.db.engine import create_engine, session_factory
from services.registry.adapters.cluster_store import SqlClusterAddresses
from services.registry.domain.cluster import ClusterMode
from services.registry.domain.model import Status
from services.registry.service.cluster_start import ClusterLaunches
from services.registry.service.ports import KernelLaunch
from services.registry.service.starter import Starter
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import (
    cluster_kernels,
    cluster_session,
    new_session,
    registration,
)
from tests.integration.registry.start_helpers import FakeAgents, outcomes_for

pytestmark = pytest.mark.integration


class ClusterAgents(FakeAgents):
    """Agents publishing 10.9.<agent>.<10 + rank>, or refusing (no cluster networking)."""

    def __init__(self, *, refuse: bool = False) -> None:
        super().__init__()
        self.refuse = refuse
        self.prepared: dict[str, list[tuple[str, str]]] = {}  # "session@agent address" →
        self.launches: list[KernelLaunch] = []

    async def prepare_cluster_network(
        self, address: str, session_id: str, kernels: Sequence[tuple[str, str]]
    ) -> Mapping[str, str]:
        if self.refuse:
            raise FailedPrecondition(
                "the container backend of this agent has no cluster networking"
            )
        self.prepared[f"{session_id}@{address}"] = list(kernels)
        agent = address.rsplit(":", 1)[1]
        return {host: f"10.9.{agent}.{10 + _rank(host)}" for _, host in kernels}

    async def create_kernels(self, address: str, kernels: Sequence[KernelLaunch]) -> None:
        await super().create_kernels(address, kernels)
        self.launches += kernels


def _rank(hostname: str) -> int:
    return 0 if hostname == "main1" else int(hostname.removeprefix("sub"))


@pytest.fixture
async def addresses(registry_db: str) -> AsyncIterator[SqlClusterAddresses]:
    engine = create_engine(registry_db, pool_size=2)
    yield SqlClusterAddresses(session_factory(engine))
    await engine.dispose()


async def _bound_cluster(stores: Stores, size: int, agents: int) -> tuple[str, list[str]]:
    """A multi-node session of `size` kernels bound round-robin on `agents` new agents."""
    agent_ids = [f"agent-{new_id()[:8]}" for _ in range(agents)]
    for n, agent_id in enumerate(agent_ids):
        reg = dataclasses.replace(registration(agent_id, cpu="4"), address=f"127.0.0.1:{n + 1}")
        await stores.agents.register(reg, datetime.now(UTC))
    new = cluster_session(size)
    session, _ = await stores.sessions.add(new)
    binding = {k.kernel_id: agent_ids[i % agents] for i, k in enumerate(session.kernels)}
    assert (await stores.sessions.bind(session.session_id, binding)).bound
    return session.session_id, agent_ids


async def _start(
    stores: Stores, agents: ClusterAgents, addresses: SqlClusterAddresses, session_id: str
) -> None:
    """Start the session (other tests' sessions the claim picks up are started too, and then
    left out of what the fake agents report)."""
    starter = Starter(
        stores.lifecycle,
        agents,
        asyncio.Event(),
        outcomes_for(stores, agents),  # type: ignore[arg-type]
        cluster=ClusterLaunches(agents, addresses),
    )
    for prep in await stores.lifecycle.claim_scheduled(100):
        await starter.start(prep)
    agents.prepared = {k: v for k, v in agents.prepared.items() if k.startswith(session_id)}
    agents.launches = [k for k in agents.launches if k.session_id == session_id]


async def test_agents_publish_addresses_and_every_kernel_gets_the_host_list(
    stores: Stores, addresses: SqlClusterAddresses
) -> None:
    session_id, _ = await _bound_cluster(stores, size=3, agents=2)
    agents = ClusterAgents()
    await _start(stores, agents, addresses, session_id)

    # Each agent was asked only for its own kernels, by host name.
    assert sorted(h for ks in agents.prepared.values() for _, h in ks) == ["main1", "sub1", "sub2"]
    assert [h for _, h in agents.prepared[f"{session_id}@127.0.0.1:2"]] == ["sub1"]
    session = await stores.sessions.get(session_id)
    assert session.status is Status.PREPARING
    assert session.cluster_mode is ClusterMode.MULTI_NODE
    recorded = {k.cluster_hostname: k.cluster_address for k in session.kernels}
    assert recorded == {"main1": "10.9.1.10", "sub1": "10.9.2.11", "sub2": "10.9.1.12"}
    by_host = {launch.cluster_hostname: launch for launch in agents.launches}
    assert sorted(by_host) == ["main1", "sub1", "sub2"]
    for host, launch in by_host.items():
        assert dict(launch.cluster_hosts) == recorded
        assert launch.environ["BACKENDAI_CLUSTER_HOST"] == host
        assert launch.environ["BACKENDAI_CLUSTER_HOSTS"] == "main1,sub1,sub2"
        assert launch.environ["BACKENDAI_CLUSTER_REPLICAS"] == "main:1,sub:2"
        assert launch.environ["BACKENDAI_SESSION_ID"] == session_id
    assert by_host["sub2"].environ["BACKENDAI_CLUSTER_LOCAL_RANK"] == "2"


async def test_a_single_kernel_gets_the_environment_but_no_network(
    stores: Stores, addresses: SqlClusterAddresses
) -> None:
    session_id, _ = await _bound_cluster(stores, size=1, agents=1)
    agents = ClusterAgents()
    await _start(stores, agents, addresses, session_id)
    assert agents.prepared == {}
    (launch,) = agents.launches
    assert (launch.cluster_hostname, launch.cluster_hosts) == ("", ())
    assert launch.environ["BACKENDAI_CLUSTER_SIZE"] == "1"
    assert launch.environ["BACKENDAI_CLUSTER_HOST"] == "main1"
    (kernel,) = (await stores.sessions.get(session_id)).kernels
    assert kernel.cluster_address == ""


async def test_an_agent_without_cluster_networking_fails_the_start_with_its_reason(
    stores: Stores, addresses: SqlClusterAddresses
) -> None:
    session_id, agent_ids = await _bound_cluster(stores, size=2, agents=1)
    agents = ClusterAgents(refuse=True)
    await _start(stores, agents, addresses, session_id)
    session = await stores.sessions.get(session_id)
    assert (session.status, session.status_info) == (Status.CANCELLED, "failed-to-start")
    assert "no cluster networking" in session.status_message
    assert agents.launches == []
    assert (await stores.agents.get(agent_ids[0])).occupied_slots["cpu"] == 0


async def test_a_bind_naming_only_some_kernels_binds_none(stores: Stores) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="4"), datetime.now(UTC))
    kernels = cluster_kernels(2)
    session, _ = await stores.sessions.add(dataclasses.replace(new_session(), kernels=kernels))
    outcome = await stores.sessions.bind(session.session_id, {kernels[0].kernel_id: agent_id})
    assert (outcome.bound, outcome.conflict) == (False, "kernel-set-mismatch")
    again = await stores.sessions.get(session.session_id)
    assert again.status is Status.PENDING
    assert [k.agent_id for k in again.kernels] == [None, None]
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0
