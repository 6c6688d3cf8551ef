"""Sessions on the image tests' platform: resource groups, registered agents with an image
inventory (nothing listens at their address), creating a session and waiting for its state."""

from __future__ import annotations

import asyncio
import secrets
import time

from shipyard.registry.v1 import agent_registry_service_pb2 as agent_pb
from shipyard.registry.v1 import resource_group_service_pb2 as rg_pb
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.type.v1 import resources_pb2

from tests.integration.images.conftest import Platform

MiB = 1024**2


async def new_group(platform: Platform) -> str:
    name = f"rg-{secrets.token_hex(4)}"
    await platform.groups.CreateResourceGroup(
        rg_pb.CreateResourceGroupRequest(
            resource_group=rg_pb.ResourceGroup(name=name, is_active=True)
        ),
        metadata=platform.as_caller(platform.superadmin),
    )
    await platform.allow(name)
    return name


async def register_agent(
    platform: Platform,
    group: str,
    *,
    arch: str,
    images: tuple[str, ...] = (),
    first: str = "a",
    backend: str = "container",
) -> str:
    # Ties between equally idle agents go to the smallest id: `first="z"` loses every tie.
    agent_id = f"{first}-agent-{secrets.token_hex(4)}"
    await platform.agents.RegisterAgent(
        agent_pb.RegisterAgentRequest(
            agent_id=agent_id,
            address="127.0.0.1:1",  # nothing listens: a bound session then fails to start
            resource_group=group,
            available_slots=resources_pb2.ResourceSlots(
                amounts={"cpu": "4", "mem": str(4 * 1024**3)}
            ),
            backend=backend,
            architecture=arch,
            images=list(images),
        ),
        metadata=platform.as_system(),
    )
    return agent_id


async def create(platform: Platform, caller, **fields) -> pb.Session:
    fields.setdefault("resources", {"cpu": "1", "mem": str(1024 * MiB)})
    reply = await platform.sessions.CreateSession(
        pb.CreateSessionRequest(**fields), metadata=platform.as_caller(caller)
    )
    return reply.session


async def wait_for(
    platform: Platform, caller, session_id: str, check, timeout: float = 15.0
) -> pb.Session:
    deadline = time.monotonic() + timeout
    while True:
        reply = await platform.sessions.GetSession(
            pb.GetSessionRequest(session_id=session_id), metadata=platform.as_caller(caller)
        )
        if check(reply.session):
            return reply.session
        assert time.monotonic() < deadline, f"condition never held: {reply.session}"
        await asyncio.sleep(0.05)
