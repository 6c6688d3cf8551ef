"""The registry's built components, handed from the composition root (app.py) to the modules
that turn them into gRPC services (app_sessions.py, app_admin.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.agent_files import GrpcAgentFiles
from services.registry.adapters.agent_store import SqlAgentStore
from services.registry.adapters.agent_terminals import GrpcAgentTerminals
from services.registry.adapters.container_registry_store import SqlRegistryStore
from services.registry.adapters.edge_apps import GrpcAppEdge
from services.registry.adapters.image_store import SqlImageStore
from services.registry.adapters.lifecycle_store import SqlLifecycleStore
from services.registry.adapters.peer_clients import GrpcAgentClient, GrpcMountResolver
from services.registry.adapters.policy_client import GrpcPolicyResolver
from services.registry.adapters.redis_events import RedisClusterEvents, StreamSessionWaiter
from services.registry.adapters.session_store import SqlSessionStore
from services.registry.config import Settings
from services.registry.domain.agent_auth import AgentAuth
from services.registry.idle_app import IdleParts
from services.registry.service.agents import AgentLifecycle
from services.registry.service.rescan import Rescans
from services.registry.service.resource_groups import ResourceGroups
from services.registry.service.restart_session import RestartSession

KERNEL_EVENTS_GROUP = "registry"


@dataclass(frozen=True, slots=True)
class RegistryParts:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    store: SqlSessionStore
    lifecycle: SqlLifecycleStore
    agent_store: SqlAgentStore
    events: RedisClusterEvents
    waiter: StreamSessionWaiter
    agent_client: GrpcAgentClient
    mounts: GrpcMountResolver
    policies: GrpcPolicyResolver
    terminals: GrpcAgentTerminals
    files: GrpcAgentFiles
    app_edge: GrpcAppEdge
    idle: IdleParts
    image_store: SqlImageStore
    groups: ResourceGroups
    registry_store: SqlRegistryStore
    rescans: Rescans
    agents: AgentLifecycle
    agent_auth: AgentAuth
    restart_session: RestartSession
    wakeup: asyncio.Event  # set when a bind leaves work for the starter

    @property
    def kernel_stream(self) -> str:
        return f"{self.settings.redis_prefix}events:kernel"
