"""Composition root of the registry."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.core.tasks import cancel_all, keep_running, spawn
from libs.db.engine import create_engine, session_factory
from libs.db.migrate import upgrade
from libs.db.reads import ReadPool
from libs.events.batch_consumer import BatchStreamConsumer
from libs.grpcutil.runner import run_service
from libs.grpcutil.server import GrpcServer, create_server
from services.registry.adapters.agent_files import GrpcAgentFiles
from services.registry.adapters.agent_health_store import SqlAgentHealth
from services.registry.adapters.agent_store import SqlAgentStore
from services.registry.adapters.agent_terminals import GrpcAgentTerminals
from services.registry.adapters.cluster_store import SqlClusterAddresses
from services.registry.adapters.container_registry_store import SqlRegistryStore, SqlTaskStore
from services.registry.adapters.dependency_probe import dependencies_probe
from services.registry.adapters.docker_registry import scanner_for
from services.registry.adapters.edge_apps import GrpcAppEdge
from services.registry.adapters.heartbeat_clock import RedisHeartbeatClock
from services.registry.adapters.image_store import SqlImageStore
from services.registry.adapters.lifecycle_store import SqlLifecycleStore
from services.registry.adapters.lost_agent_store import SqlLostAgentSessions
from services.registry.adapters.occupancy_store import SqlOccupancy
from services.registry.adapters.outbox_relay import OutboxRelay
from services.registry.adapters.peer_clients import GrpcAgentClient, GrpcMountResolver
from services.registry.adapters.policy_client import GrpcPolicyResolver
from services.registry.adapters.redis_events import RedisClusterEvents, StreamSessionWaiter
from services.registry.adapters.requeue_store import SqlStartRetries
from services.registry.adapters.resource_group_store import SqlResourceGroupStore
from services.registry.adapters.restart_store import SqlRestartStore
from services.registry.adapters.secrets import SecretBox
from services.registry.adapters.session_store import SqlSessionStore
from services.registry.api.kernel_event_handler import KernelEventHandler
from services.registry.app_admin import admin_registrations
from services.registry.app_parts import KERNEL_EVENTS_GROUP, RegistryParts
from services.registry.app_sessions import session_registrations
from services.registry.config import Settings
from services.registry.domain.agent_auth import AgentAuth
from services.registry.domain.schedulability import SchedulabilityPolicy
from services.registry.domain.start_failures import RetryPolicy
from services.registry.idle_app import build_idle_checks
from services.registry.service.agents import AgentLifecycle
from services.registry.service.cluster_start import ClusterLaunches
from services.registry.service.kernel_events import ApplyKernelEvent
from services.registry.service.reconcile import Reconciler
from services.registry.service.rescan import Rescans
from services.registry.service.resource_groups import ResourceGroups
from services.registry.service.restart_session import RestartSession
from services.registry.service.start_outcomes import RequeueRelease, StartOutcomes
from services.registry.service.starter import Starter

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


@dataclass
class RunningRegistry:
    server: GrpcServer
    engine: AsyncEngine
    redis: Redis
    agent_client: GrpcAgentClient
    terminals: GrpcAgentTerminals
    mounts: GrpcMountResolver
    policies: GrpcPolicyResolver
    rescans: Rescans
    starter: Starter
    app_edge: GrpcAppEdge
    drain_timeout: float = 10.0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    files: GrpcAgentFiles | None = None
    reads: ReadPool | None = None

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        await self.server.stop(grace=2.0)
        # In-flight starts finish (or go back to the queue) before the loops stop.
        await self.starter.drain(self.drain_timeout)
        await cancel_all(self.tasks)
        await self.rescans.stop()
        await self.agent_client.close()
        await self.app_edge.close()
        await self.terminals.close()
        if self.files is not None:
            await self.files.close()
        await self.mounts.close()
        await self.policies.close()
        await self.redis.aclose()
        if self.reads is not None:
            await self.reads.close()
        await self.engine.dispose()


async def serve(settings: Settings) -> RunningRegistry:
    token = settings.internal_token.get_secret_value()
    if settings.migrate:
        await upgrade(settings.database_url, MIGRATIONS, "registry")
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    sessions = session_factory(engine)
    reads = ReadPool(settings.database_url, size=settings.read_pool_size)
    await reads.open()
    redis = Redis.from_url(settings.redis_url)
    store = SqlSessionStore(sessions, reads)
    lifecycle = SqlLifecycleStore(sessions)
    agent_store = SqlAgentStore(sessions)
    events = RedisClusterEvents(redis, settings.redis_prefix)
    wakeup = asyncio.Event()
    follow = settings.start_sessions and settings.starter_follows_binds
    waiter = StreamSessionWaiter(events, wakeup.set if follow else None)
    mtls = settings.mtls()
    agent_client = GrpcAgentClient(token, mtls=mtls)
    restart_session = RestartSession(store, SqlRestartStore(sessions), lifecycle, agent_client)
    mounts = GrpcMountResolver(settings.storage_addr, token, mtls)
    policies = GrpcPolicyResolver(settings.auth_addr, token, mtls)
    terminals = GrpcAgentTerminals(token, mtls=mtls)
    files = GrpcAgentFiles(token, mtls=mtls)
    idle = build_idle_checks(settings, redis, sessions, lifecycle, agent_client)
    image_store = SqlImageStore(sessions, reads)
    groups = ResourceGroups(SqlResourceGroupStore(sessions, reads))
    key = settings.credentials_key or settings.internal_token
    registry_store = SqlRegistryStore(sessions, SecretBox(key.get_secret_value()))
    rescans = Rescans(
        registry_store,
        SqlTaskStore(sessions, settings.node_id),
        image_store,
        scanner_for,
        concurrency=settings.rescan_concurrency,
    )
    await rescans.recover()

    agent_key = settings.agent_credentials_key or key
    agent_auth = AgentAuth(agent_key.get_secret_value(), certificates=mtls is not None)
    health = SqlAgentHealth(sessions)
    retries = SqlStartRetries(sessions)
    schedulability = SchedulabilityPolicy(
        failure_threshold=settings.agent_failure_threshold,
        cooldown=timedelta(seconds=settings.agent_unschedulable_cooldown),
    )
    agents = AgentLifecycle(
        agent_store,
        lifecycle,
        RedisHeartbeatClock(redis, settings.redis_prefix),
        agent_client,
        timedelta(seconds=settings.heartbeat_timeout),
        health=health,
        schedulability=schedulability,
        lost_grace=timedelta(seconds=settings.lost_agent_grace),
        lost_sessions=SqlLostAgentSessions(sessions),
        forget_channel=agent_client.forget,
        kernel_stats=idle.stats,
    )
    outcomes = StartOutcomes(
        lifecycle,
        retries,
        health,
        agent_client,
        RetryPolicy(
            max_attempts=settings.start_max_attempts,
            backoff=timedelta(seconds=settings.start_retry_backoff),
            max_backoff=timedelta(seconds=settings.start_retry_backoff_max),
        ),
        schedulability,
    )
    starter = Starter(
        lifecycle,
        agent_client,
        wakeup,
        outcomes,
        concurrency=settings.starter_concurrency,
        start_timeout=settings.start_timeout,
        cluster=ClusterLaunches(agent_client, SqlClusterAddresses(sessions)),
    )
    app_edge = GrpcAppEdge(settings.edge_api_addr, token)
    parts = RegistryParts(
        settings=settings,
        sessions=sessions,
        redis=redis,
        store=store,
        lifecycle=lifecycle,
        agent_store=agent_store,
        events=events,
        waiter=waiter,
        agent_client=agent_client,
        mounts=mounts,
        policies=policies,
        terminals=terminals,
        files=files,
        app_edge=app_edge,
        idle=idle,
        image_store=image_store,
        groups=groups,
        registry_store=registry_store,
        rescans=rescans,
        agents=agents,
        agent_auth=agent_auth,
        restart_session=restart_session,
        wakeup=wakeup,
    )
    server = create_server(
        domain="registry.shipyard",
        internal_token=token,
        bind=settings.bind,
        mtls=settings.mtls(),
        services=[*session_registrations(parts), *admin_registrations(parts)],
    )
    kernel_events = KernelEventHandler(
        ApplyKernelEvent(lifecycle, idle.stats, apps=app_edge, on_session_change=waiter.wake),
        agent_auth,
    )
    # Each read is applied in one transaction (docs/architecture.md, session start).
    consumer = BatchStreamConsumer(
        redis,
        parts.kernel_stream,
        KERNEL_EVENTS_GROUP,
        settings.node_id,
        kernel_events,
        kernel_events.batch,
        batch=256,
        healthy=dependencies_probe(engine, redis),
    )
    if settings.start_sessions:
        await consumer.ensure_group()
    reconciler = Reconciler(
        lifecycle,
        SqlOccupancy(sessions),
        outcomes,
        agent_client,
        prepare_timeout=timedelta(seconds=settings.prepare_timeout),
        restarts=restart_session,
    )
    running = RunningRegistry(
        server,
        engine,
        redis,
        agent_client,
        terminals,
        mounts,
        policies,
        rescans,
        starter,
        app_edge,
        settings.shutdown_drain_timeout,
        files=files,
        reads=reads,
    )
    relay = OutboxRelay(engine, sessions, redis, settings.redis_prefix)
    running.tasks = [
        spawn(relay.run(), "outbox-relay"),
        spawn(keep_running("session waiter", waiter.run), "session-waiter"),
        spawn(keep_running("requeue release", RequeueRelease(retries).run), "requeue"),
        spawn(agents.run_sweeper(settings.sweep_interval), "sweeper"),
        spawn(reconciler.run(settings.reconcile_interval), "reconciler"),
        spawn(idle.checks.run(settings.idle_check_interval), "idle-checks"),
    ]
    if settings.start_sessions:
        running.tasks += [
            spawn(keep_running("kernel events", consumer.run), "kernel-events"),
            spawn(keep_running("starter", starter.run), "starter"),
        ]
    else:
        log.info("this replica starts no sessions (REGISTRY_START_SESSIONS=false)")
    await server.start()
    log.info("registry serving on port %d", server.port)
    return running


async def main() -> None:
    settings = Settings()  # type: ignore[call-arg]  # required keys come from the environment
    await run_service("registry", settings, serve)
