"""Submitting the bench's sessions through the public API (bench/scheduler.py).

With `direct` (the bench's default), the public SessionService.CreateSession RPC called on the
registry with the keypair owner's identity, as the edge forwards it, so that a long queue
(20,000 sessions) is filled in minutes; otherwise through the edge (REST, signed requests,
`--via-edge`). Either way every session is a real row created by the registry's create path.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable

import grpc
from shipyard.registry.v1 import session_service_pb2 as spb
from shipyard.registry.v1 import session_service_pb2_grpc as spb_grpc

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from libs.core.identity import Caller, Role, caller_to_headers
from libs.grpcutil.client import internal_channel

REQUEST = {"cpu": "0.25", "mem": str(256 << 20)}
_RETRY_HTTP = (429, 503)
# INTERNAL too: a shared PostgreSQL out of connections fails a create that is safe to
# repeat (the same client_token returns the first session).
_RETRY_GRPC = (
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
)


async def submit(
    platform: Platform, client: ShipyardClient, count: int, *, concurrency: int, direct: bool
) -> list[str]:
    """Create `count` sessions, `concurrency` requests in flight; their ids."""
    if not direct:
        return await _run(count, concurrency, lambda token: _via_edge(client, token))
    identity = await client.whoami()
    caller = Caller(
        user_id=identity["user_id"],
        access_key=identity.get("access_key", ""),
        role=Role(str(identity.get("role", "ROLE_USER")).lower().removeprefix("role_")),
        domain_name=identity.get("domain_name", ""),
        project_ids=tuple(identity.get("project_ids", ())),
        email=identity.get("email", ""),
    )
    metadata = tuple(caller_to_headers(caller).items())
    channel = internal_channel(platform.address("registry"), platform.internal_token)
    stub = spb_grpc.SessionServiceStub(channel)

    async def one(token: str) -> str:
        request = spb.CreateSessionRequest(resources=REQUEST, client_token=token)
        try:
            reply = await stub.CreateSession(request, metadata=metadata, timeout=60)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _RETRY_GRPC:
                raise _Retry() from exc
            raise
        return str(reply.session.session_id)

    try:
        return await _run(count, concurrency, one)
    finally:
        await channel.close()


class _Retry(Exception):
    """The API asked us to come back later."""


async def _via_edge(client: ShipyardClient, token: str) -> str:
    try:
        made = await client.create_session(resources=REQUEST, client_token=token)
    except ApiError as exc:
        if exc.status in _RETRY_HTTP:
            raise _Retry() from exc
        raise
    return str(made["session_id"])


async def _run(count: int, concurrency: int, create: Callable[[str], Awaitable[str]]) -> list[str]:
    gate = asyncio.Semaphore(concurrency)
    ids: list[str] = []
    finished: list[float] = []  # when each create returned

    async def one() -> None:
        token = secrets.token_hex(8)  # the same on retries: one session however many tries
        async with gate:
            for attempt in range(10):
                try:
                    ids.append(await create(token))
                    finished.append(time.perf_counter())
                    return
                except _Retry:
                    if attempt == 9:
                        raise
                    await asyncio.sleep(0.2 * 2**attempt)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.perf_counter() - started
    print(f"{len(ids)} sessions created in {elapsed:.1f} s ({len(ids) / elapsed:.0f}/s)")
    chunk = min(1000, len(finished) // 3)
    if chunk:  # work that grows with the queue shows as a slower last chunk
        first = chunk / (finished[chunk - 1] - started)
        last = chunk / (finished[-1] - finished[-chunk - 1])
        print(f"first {chunk} creates: {first:.0f}/s; last {chunk}: {last:.0f}/s")
    return ids
