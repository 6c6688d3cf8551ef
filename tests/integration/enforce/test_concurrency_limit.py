"""Fifty concurrent creates against max_concurrent_sessions = 3: exactly three are placed.

Real PostgreSQL and Redis, the registry's CreateSession and SchedulingService over gRPC, and
two scheduler replicas' cycles (cache, limits, placement, the real gRPC client) racing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from shipyard.registry.v1 import scheduling_service_pb2_grpc

from libs.core.identity import Caller, Role
from libs.core.ids import new_id
from libs.db.engine import create_engine, session_factory
from libs.grpcutil.client import internal_channel
from libs.grpcutil.server import Registration, create_server
from services.registry.adapters.image_store import SqlImageStore
from services.registry.adapters.redis_events import StreamSessionWaiter
from services.registry.adapters.resource_group_store import SqlResourceGroupStore
from services.registry.api.scheduling_servicer import SchedulingServicer
from services.registry.domain.errors import PendingSessionLimit
from services.registry.domain.image_ref import canonical
from services.registry.domain.model import Session, SessionPolicy, SessionType, Status
from services.registry.service.create_session import CreateSession
from services.registry.service.image_resolution import ImageResolver
from services.registry.service.resource_groups import ResourceGroups
from services.registry.service.scheduling import Scheduling
from services.registry.service.session_requests import DEFAULT_IMAGE, CreateSessionCommand
from services.scheduler.adapters.registry_client import GrpcSchedulingClient
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.limits import CONCURRENCY_LIMIT, KeypairLimits, Limits
from services.scheduler.domain.model import ClusterSnapshot, PendingSession
from services.scheduler.domain.policy import get_policy
from services.scheduler.domain.selectors import get_selector
from services.scheduler.service.schedule import ScheduleCycle
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import registration
from tests.unit.scheduler.factories import FakeClock, FakeLimits

pytestmark = pytest.mark.integration

LIMIT = 3


class FixedPolicy:
    """The PolicyResolver port answering for one keypair (auth's part is tested in auth)."""

    def __init__(self, policy: SessionPolicy) -> None:
        self.policy = policy

    async def resolve(self, caller: Caller, *, project_id: str, resource_group: str):
        return self.policy


class NoMounts:
    async def resolve(
        self, user_id: str, names: Sequence[str], project_id: str = "", *, specs: Sequence[str] = ()
    ) -> list:
        return []


class NewestFirst:
    """A second replica deciding in the opposite order, so the two pick different sessions."""

    name = "newest-first"

    def order(
        self, pending: Sequence[PendingSession], context: object = None
    ) -> list[PendingSession]:
        del context
        return sorted(pending, key=lambda s: (s.create_time, s.session_id), reverse=True)


@dataclass
class Cluster:
    stores: Stores
    client: GrpcSchedulingClient
    caller: Caller
    groups: ResourceGroups
    images: ImageResolver


@pytest.fixture
async def catalog(registry_db: str) -> AsyncIterator[tuple[ResourceGroups, ImageResolver]]:
    """Resource groups ("default" comes with the migrations) and images, from the database."""
    engine = create_engine(registry_db, pool_size=2)
    factory = session_factory(engine)
    yield ResourceGroups(SqlResourceGroupStore(factory)), ImageResolver(SqlImageStore(factory))
    await engine.dispose()


@pytest.fixture
async def cluster(
    stores: Stores, catalog: tuple[ResourceGroups, ImageResolver], internal_token: str
) -> AsyncIterator[Cluster]:
    scheduling = Scheduling(stores.sessions, stores.agents, stores.events, asyncio.Event())
    server = create_server(
        domain="registry.test",
        internal_token=internal_token,
        bind="127.0.0.1:0",
        services=[
            Registration(
                scheduling_service_pb2_grpc.add_SchedulingServiceServicer_to_server,
                SchedulingServicer(scheduling),
                "shipyard.registry.v1.SchedulingService",
            )
        ],
    )
    await server.start()
    channel = internal_channel(f"127.0.0.1:{server.port}", internal_token)
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(
        # The process backend runs only the images in its inventory: the default one here.
        replace(
            registration(agent_id, cpu="1000", mem="1000000000"),
            architecture="x86_64",
            images=(canonical(DEFAULT_IMAGE),),
        ),
        datetime.now(UTC),
    )
    caller = Caller(
        user_id=new_id(),
        access_key=f"AK{new_id()[:12]}",
        role=Role.USER,
        domain_name="default",
        project_ids=("p1",),
    )
    try:
        client = GrpcSchedulingClient(channel, scheduler_id="test")
        yield Cluster(stores, client, caller, *catalog)
    finally:
        await channel.close()
        await server.stop(grace=0)


def _create(cluster: Cluster, policy: SessionPolicy) -> CreateSession:
    stores = cluster.stores
    return CreateSession(
        stores.sessions,
        NoMounts(),
        StreamSessionWaiter(stores.events),
        FixedPolicy(policy),
        cluster.groups,
        cluster.images,
    )


def _command(i: int) -> CreateSessionCommand:
    return CreateSessionCommand(
        name=f"c{i}",
        session_type=SessionType.INTERACTIVE,
        image="python:3.11",
        resources={"cpu": "1", "mem": "1000"},
        vfolder_names=[],
        startup_command="",
        resource_group="",
        client_token="",
        project_id="",
        environ={},
        wait=False,
        wait_timeout=None,
    )


async def _replica(cluster: Cluster, policy_name: str) -> tuple[ClusterCache, ScheduleCycle]:
    """A scheduler replica whose cache holds the registry's current snapshot."""
    cache = ClusterCache()
    watch = cluster.client.watch()
    snapshot = await anext(watch)
    await watch.aclose()
    assert isinstance(snapshot, ClusterSnapshot)
    cache.replace(snapshot)
    policy = NewestFirst() if policy_name == "newest-first" else get_policy(policy_name)
    limits = Limits(
        keypairs={cluster.caller.access_key: KeypairLimits(max_concurrent_sessions=LIMIT)}
    )
    cycle = ScheduleCycle(
        cache=cache,
        binder=cluster.client,
        policy_for=lambda _group: policy,
        selector=get_selector("least-occupied"),
        clock=FakeClock(),
        limits=FakeLimits(limits),
    )
    return cache, cycle


async def _mine(cluster: Cluster) -> list[Session]:
    sessions = (
        await cluster.stores.sessions.list_pending() + await cluster.stores.sessions.list_active()
    )
    return [s for s in sessions if s.access_key == cluster.caller.access_key]


async def test_fifty_creates_against_a_limit_of_three_place_exactly_three(cluster: Cluster):
    create = _create(cluster, SessionPolicy())
    created = await asyncio.gather(*(create(cluster.caller, _command(i)) for i in range(50)))
    assert len({s.session_id for s in created}) == 50

    # Two replicas decide on the same queue at once, in opposite orders: each would place
    # three different sessions; the registry's per-keypair check lets three through in all.
    (_, fifo), (_, newest) = await asyncio.gather(
        _replica(cluster, "fifo"), _replica(cluster, "newest-first")
    )
    reports = await asyncio.gather(fifo.run_once(), newest.run_once())

    mine = await _mine(cluster)
    ids = {s.session_id for s in created}
    scheduled = [s for s in mine if s.status is Status.SCHEDULED]
    pending = [s for s in mine if s.status is Status.PENDING]
    assert len(scheduled) == LIMIT
    assert len(pending) == 50 - LIMIT
    assert sum(len(ids.intersection(r.bound)) for r in reports) == LIMIT
    assert sum(len(ids.intersection(r.conflicts)) for r in reports) == LIMIT  # the loser's
    assert {s.status_info for s in pending} == {CONCURRENCY_LIMIT}
    assert all(f"max_concurrent_sessions is {LIMIT}" in s.status_message for s in pending)

    # Another cycle (any replica, fresh snapshot) places nothing more: nothing drifted.
    _, again = await _replica(cluster, "fifo")
    assert ids.isdisjoint((await again.run_once()).bound)

    # One ends: exactly one more is placed.
    ended = scheduled[0]
    assert await cluster.stores.lifecycle.cancel(ended.session_id, reason="test", error="")
    _, after = await _replica(cluster, "fifo")
    report = await after.run_once()
    assert len(ids.intersection(report.bound)) == 1
    mine = await _mine(cluster)
    assert sum(1 for s in mine if s.status is Status.SCHEDULED) == LIMIT


async def test_max_pending_sessions_caps_the_queue_under_concurrent_creates(cluster: Cluster):
    create = _create(cluster, SessionPolicy(max_pending_sessions=5))
    results = await asyncio.gather(
        *(create(cluster.caller, _command(i)) for i in range(20)), return_exceptions=True
    )

    refused = [r for r in results if isinstance(r, PendingSessionLimit)]
    assert sum(1 for r in results if isinstance(r, Session)) == 5
    assert len(refused) == 15
    assert refused[0].metadata["limit"] == "max_pending_sessions"
    assert "max_pending_sessions is 5" in refused[0].message
