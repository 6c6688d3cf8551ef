"""Composition of the idle checkers and the usage reports (docs/idle-and-usage.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis
from shipyard.registry.v1 import usage_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.grpcutil.server import Registration
from services.registry.adapters.activity import RedisActivity, RedisCheckerLease
from services.registry.adapters.kernel_stats_store import RedisKernelStats
from services.registry.adapters.lifecycle_store import SqlLifecycleStore
from services.registry.adapters.live_state import RedisLiveState
from services.registry.adapters.peer_clients import GrpcAgentClient
from services.registry.adapters.resource_group_store import SqlResourceGroupStore
from services.registry.adapters.usage_store import SqlUsageStore
from services.registry.api.usage_servicer import UsageServicer
from services.registry.config import Settings
from services.registry.domain.idle import IdleGrace
from services.registry.service.idle_checks import IdleChecks, LifetimeChecker, NetworkIdleChecker
from services.registry.service.usage import Usage
from services.registry.service.utilization_check import UtilizationChecker


def idle_grace(settings: Settings) -> IdleGrace:
    return IdleGrace(
        initial=timedelta(seconds=settings.idle_initial_grace),
        new_user=timedelta(seconds=settings.idle_new_user_grace),
    )


@dataclass(frozen=True, slots=True)
class IdleParts:
    activity: RedisActivity  # sessions' last use: executions write it, the checkers read it
    stats: RedisKernelStats  # kernels' stats: heartbeats write them, the checkers read them
    checks: IdleChecks
    live: RedisLiveState  # both of the above as GetSession shows them, in one round trip


def build_idle_checks(
    settings: Settings,
    redis: Redis,
    sessions: async_sessionmaker[AsyncSession],
    lifecycle: SqlLifecycleStore,
    agents: GrpcAgentClient,
) -> IdleParts:
    activity = RedisActivity(redis)
    stats = RedisKernelStats(redis, settings.redis_prefix, sessions)
    grace = idle_grace(settings)
    groups = SqlResourceGroupStore(sessions)
    checks = IdleChecks(
        lifecycle,
        agents,
        [
            LifetimeChecker(),
            NetworkIdleChecker(activity, grace),
            UtilizationChecker(stats, groups, grace),
        ],
        RedisCheckerLease(
            redis,
            f"{settings.redis_prefix}idle-checker:leader",
            settings.node_id,
            ttl=3 * settings.idle_check_interval,
        ),
    )
    return IdleParts(activity, stats, checks, RedisLiveState(redis, stats))


def usage_registration(sessions: async_sessionmaker[AsyncSession]) -> Registration:
    return Registration(
        usage_service_pb2_grpc.add_UsageServiceServicer_to_server,
        UsageServicer(Usage(SqlUsageStore(sessions))),
        "shipyard.registry.v1.UsageService",
    )
