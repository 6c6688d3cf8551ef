"""What every isolation matrix case is made of: the platform it runs against, the `Case` record
(expected outcome per caller and how to build the request), and fresh objects of user-A1.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.core.identity import Caller
from tests.integration.enforce import matrix as m

RPCS = m.Rpcs()
GROUP = "matrix"  # a resource group without agents: sessions stay PENDING


@dataclass
class Platform:
    token: str
    channels: dict[str, grpc.aio.Channel]
    tenancy: m.Tenancy
    registry_engine: AsyncEngine  # to seed images as a rescan would

    def channel(self, method: str) -> grpc.aio.Channel:
        return self.channels[method.split(".")[1]]  # "/shipyard.<service>.v1.X/Y"

    async def call(self, method: str, request: Any, caller: Caller | None) -> Any:
        stub = RPCS.call(self.channel(method), method)
        return await stub(request, metadata=m.metadata(self.token, caller), timeout=20)


# --- objects of user-A1 ---------------------------------------------------------------------


async def owner_session(p: Platform) -> str:
    request = RPCS.request(
        "/shipyard.registry.v1.SessionService/CreateSession",
        name=f"m-{secrets.token_hex(4)}",
        resources={"cpu": "1", "mem": str(256 * 1024**2)},
        resource_group=GROUP,
    )
    created = await p.call(
        "/shipyard.registry.v1.SessionService/CreateSession", request, p.tenancy.owner
    )
    return str(created.session.session_id)


async def owner_folder(p: Platform) -> str:
    request = RPCS.request(
        "/shipyard.storage.v1.VFolderService/CreateVFolder", name=f"f-{secrets.token_hex(4)}"
    )
    created = await p.call(
        "/shipyard.storage.v1.VFolderService/CreateVFolder", request, p.tenancy.owner
    )
    return str(created.vfolder.vfolder_id)


async def queued_owner_session(p: Platform) -> str:
    """A session of user-A1 that the scheduler already lists as pending."""
    session_id = await owner_session(p)
    root = p.tenancy.callers["superadmin"]
    method = "/shipyard.scheduler.v1.SchedulerService/ListPendingSessions"
    seen: set[str] = set()

    async def poll() -> bool:
        response = await p.call(method, RPCS.request(method), root)
        seen.update(s.session_id for s in response.sessions)
        return session_id in seen

    async with asyncio.timeout(10):
        while True:
            if await poll():
                break
            await asyncio.sleep(0.05)
    return session_id


Prepare = Callable[[Platform], Awaitable[tuple[Any, str]]]


@dataclass(frozen=True)
class Case:
    expected: dict[str, str]
    # Builds the request (creating user-A1's object first); returns it and, for listings, the
    # id that must appear in the answer.
    prepare: Callable[[Platform], Awaitable[tuple[Any, str]]]
    listed: Callable[[Any], set[str]] | None = None
    ok_code: str = m.OK  # what "allowed" looks like when the object's state refuses the act


def req(method: str, **fields: Any) -> Any:
    return RPCS.request(method, **fields)
