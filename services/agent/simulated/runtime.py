"""Composition of a simulated fleet: server, registry client, Redis events, heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from decimal import Decimal

from redis.asyncio import Redis
from shipyard.agent.v1 import kernel_service_pb2_grpc

from libs.core.tasks import spawn
from libs.events.stream_publisher import StreamPublisher
from libs.grpcutil.client import internal_channel
from libs.grpcutil.server import GrpcServer, Registration, create_server
from services.agent.adapters.event_publisher import RedisKernelEventPublisher, kernel_stream
from services.agent.adapters.registry_client import GrpcAgentRegistry
from services.agent.config import Settings
from services.agent.simulated.fleet import Fleet, fleet_infos
from services.agent.simulated.servicer import FleetKernelServicer

ERROR_DOMAIN = "agent.shipyard.dev"
SERVICE_NAME = "shipyard.agent.v1.KernelService"


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetOptions:
    count: int
    prefix: str = "sim"
    cpu: Decimal = Decimal(64)
    mem_bytes: int = 256 << 30
    resource_group: str = "default"
    bind: str = "127.0.0.1:0"


@dataclass(slots=True, kw_only=True)
class RunningFleet:
    fleet: Fleet
    address: str
    server: GrpcServer
    registry: GrpcAgentRegistry
    redis: Redis
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.stop(grace=1.0)
        await self.registry.close()
        await self.redis.aclose()


async def start_fleet(settings: Settings, options: FleetOptions) -> RunningFleet:
    """Serve, register every agent, then heartbeat them in batches until stopped."""
    token = settings.internal_token.get_secret_value()
    redis = Redis.from_url(settings.redis_url)
    events = RedisKernelEventPublisher(StreamPublisher(redis, kernel_stream(settings.redis_prefix)))
    registry = GrpcAgentRegistry(
        lambda: internal_channel(settings.registry_addr, token), timeout=settings.heartbeat_timeout
    )
    fleet = Fleet(registry=registry, heartbeats=registry, events=events)
    server = create_server(
        domain=ERROR_DOMAIN,
        internal_token=token,
        bind=options.bind,
        services=[
            Registration(
                kernel_service_pb2_grpc.add_KernelServiceServicer_to_server,
                FleetKernelServicer(fleet),
                SERVICE_NAME,
            )
        ],
    )
    await server.start()
    host = options.bind.rpartition(":")[0] or "127.0.0.1"
    fleet.add(
        fleet_infos(
            count=options.count,
            host=host,
            port=server.port,
            prefix=options.prefix,
            resource_group=options.resource_group,
            cpu=options.cpu,
            mem_bytes=options.mem_bytes,
        )
    )
    running = RunningFleet(
        fleet=fleet,
        address=f"{host}:{server.port}",
        server=server,
        registry=registry,
        redis=redis,
    )
    try:
        interval = await fleet.register_first()
        beat_every = interval or settings.heartbeat_interval
        # Heartbeats start with the first registration, not after the last one.
        running.tasks.append(spawn(fleet.run_heartbeats(beat_every), "fleet-heartbeats"))
        await fleet.register_all()
    except BaseException:
        await running.stop()
        raise
    return running
