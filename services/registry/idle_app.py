"""Composition of the idle checkers and the usage reports (docs/idle-and-usage.md)."""

from __future__ import annotations

from datetime import timedelta

from redis.asyncio import Redis
from shipyard.registry.v1 import usage_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.grpcutil.server import Registration
from services.registry.adapters.activity import RedisActivity, RedisCheckerLease
from services.registry.adapters.lifecycle_store import SqlLifecycleStore
from services.registry.adapters.peer_clients import GrpcAgentClient
from services.registry.adapters.usage_store import SqlUsageStore
from services.registry.api.usage_servicer import UsageServicer
from services.registry.config import Settings
from services.registry.domain.idle import IdleGrace
from services.registry.service.idle_checks import IdleChecks, LifetimeChecker, NetworkIdleChecker
from services.registry.service.usage import Usage


def idle_grace(settings: Settings) -> IdleGrace:
    return IdleGrace(
        initial=timedelta(seconds=settings.idle_initial_grace),
        new_user=timedelta(seconds=settings.idle_new_user_grace),
    )


def build_idle_checks(
    settings: Settings, redis: Redis, lifecycle: SqlLifecycleStore, agents: GrpcAgentClient
) -> tuple[RedisActivity, IdleChecks]:
    """The activity record executions write and the checkers read, and the checkers."""
    activity = RedisActivity(redis)
    checks = IdleChecks(
        lifecycle,
        agents,
        [LifetimeChecker(), NetworkIdleChecker(activity, idle_grace(settings))],
        RedisCheckerLease(
            redis,
            f"{settings.redis_prefix}idle-checker:leader",
            settings.node_id,
            ttl=3 * settings.idle_check_interval,
        ),
    )
    return activity, checks


def usage_registration(sessions: async_sessionmaker[AsyncSession]) -> Registration:
    return Registration(
        usage_service_pb2_grpc.add_UsageServiceServicer_to_server,
        UsageServicer(Usage(SqlUsageStore(sessions))),
        "shipyard.registry.v1.UsageService",
    )
