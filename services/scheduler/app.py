"""Composition root: settings → Redis lease, registry channel → cache, sync, cycles → server."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
from opentelemetry import trace
from redis.asyncio import Redis
from shipyard.scheduler.v1 import scheduler_service_pb2_grpc

from libs.core.tasks import cancel_all, spawn
from libs.grpcutil.client import internal_channel
from libs.grpcutil.runner import run_service
from libs.grpcutil.server import GrpcServer, Registration, create_server
from services.scheduler.adapters.group_client import GrpcGroupSettings
from services.scheduler.adapters.limits_client import GrpcLimitsSource
from services.scheduler.adapters.redis_lease import RedisLease
from services.scheduler.adapters.registry_client import GrpcSchedulingClient
from services.scheduler.api.servicer import SERVICE_NAME, SchedulerServicer
from services.scheduler.config import Settings
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.dependencies import DependenciesMet
from services.scheduler.domain.group_config import GroupConfig, GroupScheduling
from services.scheduler.domain.predicates import DEFAULT_SESSION_PREDICATES
from services.scheduler.domain.session_predicates import SessionTypeAllowed
from services.scheduler.service.group_refresh import GroupRefresher
from services.scheduler.service.leadership import LeaderElector
from services.scheduler.service.limits_cache import CachedLimits
from services.scheduler.service.list_pending import ListPendingSessions
from services.scheduler.service.loop import SchedulerLoop
from services.scheduler.service.pending_cleanup import PendingCleanup
from services.scheduler.service.preempt import Preemption
from services.scheduler.service.reservations import Reservations
from services.scheduler.service.schedule import ScheduleCycle
from services.scheduler.service.watch import ClusterSync

log = logging.getLogger(__name__)

ERROR_DOMAIN = "scheduler.shipyard"


@dataclass(slots=True, kw_only=True)
class RunningScheduler:
    scheduler_id: str
    port: int
    cache: ClusterCache
    elector: LeaderElector
    sync: ClusterSync
    _server: GrpcServer
    _redis: Redis
    _channel: grpc.aio.Channel
    _auth_channel: grpc.aio.Channel
    _tasks: list[asyncio.Task[None]]
    _stopped: bool = field(default=False)

    async def stop(self) -> None:
        """Stop serving and scheduling, then release the lease so a standby takes over at once."""
        if self._stopped:
            return
        self._stopped = True
        try:
            await self._server.stop(grace=2.0)
            await cancel_all(self._tasks)
            await self.elector.resign()
        finally:
            await self._channel.close()
            await self._auth_channel.close()
            await self._redis.aclose()
        log.info("scheduler %s stopped", self.scheduler_id)


async def serve(settings: Settings, *, tracer: trace.Tracer | None = None) -> RunningScheduler:
    """Start the scheduler replica: lease loop, cluster watch, cycles and the gRPC server."""
    token = settings.internal_token.get_secret_value()
    groups = GroupConfig(
        GroupScheduling(
            policy=settings.policy, selector=settings.selector, options=settings.policy_options
        )
    )
    policy_for = groups.policy_for

    redis = Redis.from_url(settings.redis_url)
    channel = internal_channel(settings.registry_addr, token, settings.mtls())
    registry = GrpcSchedulingClient(
        channel,
        scheduler_id=settings.scheduler_id,
        bind_timeout=settings.bind_timeout,
        tracer=tracer,
        lease_epoch=lambda: elector.epoch,  # built below; binds run only once it leads
    )
    auth_channel = internal_channel(settings.auth_addr, token, settings.mtls())
    limits = CachedLimits(
        GrpcLimitsSource(auth_channel), clock=time.monotonic, ttl=settings.limits_ttl
    )
    # Read the groups' settings before the first cycle; the refresher keeps them current.
    refresher = GroupRefresher(GrpcGroupSettings(channel), groups, interval=settings.groups_refresh)
    await refresher.refresh_once()
    cache = ClusterCache()
    cycle = ScheduleCycle(
        cache=cache,
        binder=registry,
        policy_for=policy_for,
        selector=groups.selector_for(""),
        selector_for=groups.selector_for,
        clock=time.monotonic,
        note_interval=settings.note_interval,
        max_batch=settings.max_batch,
        max_batches=settings.max_batches,
        bound_ttl=settings.bound_ttl,
        limits=limits,
        preemption=Preemption(registry, clock=time.monotonic, now=lambda: datetime.now(UTC)),
        reservations=Reservations(
            wait_for=lambda g: timedelta(seconds=groups.settings_for(g).reservation_wait),
            now=lambda: datetime.now(UTC),
        ),
        cleanup=PendingCleanup(
            registry,
            timeout_for=lambda group: timedelta(seconds=groups.settings_for(group).pending_timeout),
            now=lambda: datetime.now(UTC),
        ),
        session_predicates=(
            *DEFAULT_SESSION_PREDICATES,
            SessionTypeAllowed(groups.allowed_session_types),
            DependenciesMet(),
        ),
    )
    lease = RedisLease(
        redis, key=settings.lease_key, owner=settings.scheduler_id, ttl=settings.lease_ttl
    )
    # Winning the election and every watch change wake the cycle loop (built just below).
    elector = LeaderElector(
        lease,
        ttl=settings.lease_ttl,
        clock=time.monotonic,
        on_elected=lambda: loop.trigger(),
        can_lead=lambda: sync.synced,
    )
    sync = ClusterSync(
        registry,
        cache,
        on_change=lambda: loop.trigger(),
        backoff_max=settings.watch_backoff_max,
    )
    loop = SchedulerLoop(
        cycle=cycle,
        is_active=lambda: elector.is_leader and sync.synced,
        tick_interval=settings.tick_interval,
    )
    list_pending = ListPendingSessions(
        cache=cache, policy_for=policy_for, is_leader=lambda: elector.is_leader
    )
    server = create_server(
        domain=ERROR_DOMAIN,
        internal_token=token,
        bind=settings.bind,
        mtls=settings.mtls(),
        services=[
            Registration(
                scheduler_service_pb2_grpc.add_SchedulerServiceServicer_to_server,
                SchedulerServicer(list_pending),
                SERVICE_NAME,
            )
        ],
    )
    await server.start()
    tasks = [
        spawn(elector.run(), "scheduler-lease"),
        spawn(sync.run(), "scheduler-watch"),
        spawn(loop.run(), "scheduler-cycles"),
        spawn(refresher.run(), "scheduler-group-settings"),
    ]
    log.info("scheduler %s serving on port %d", settings.scheduler_id, server.port)
    return RunningScheduler(
        scheduler_id=settings.scheduler_id,
        port=server.port,
        cache=cache,
        elector=elector,
        sync=sync,
        _server=server,
        _redis=redis,
        _channel=channel,
        _auth_channel=auth_channel,
        _tasks=tasks,
    )


async def main() -> None:
    settings = Settings()  # type: ignore[call-arg]  # required keys come from the environment
    await run_service("scheduler", settings, serve)
