"""Helpers for the xDS tests: replicas that say who answered, and polling until the edge
has taken a change."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.integration.gateway.edge_harness import GOOD_CREDENTIAL

GOOD = (("authorization", GOOD_CREDENTIAL),)
APP_METHOD = "/demo.v1.Echo/Say"


class Replica:
    """A gRPC server that answers every call with its own name, or with an empty message
    (and serves health)."""

    def __init__(self, name: str, *, empty: bool = False) -> None:
        self.name = name
        self._answer = b"" if empty else name.encode()  # empty: a valid default message
        self.calls = 0
        self.server = grpc.aio.server()
        self.addr = ""

    async def start(self) -> Replica:
        async def answer(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            self.calls += 1
            return self._answer

        replica = self

        class _Any(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
                if details.method.startswith("/grpc.health.v1."):
                    return None
                return grpc.unary_unary_rpc_method_handler(answer)

        checker = health.aio.HealthServicer()
        await checker.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(checker, self.server)
        self.server.add_generic_rpc_handlers((_Any(),))
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        replica.addr = f"127.0.0.1:{port}"
        return self


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 2.0) -> float:
    """Seconds until `check()` held; fails after `within`."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < within, "not within the deadline"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def call(addr: str, method: str) -> bytes | grpc.StatusCode:
    async with grpc.aio.insecure_channel(addr) as channel:
        return await call_on(channel, method)


async def call_on(channel: grpc.aio.Channel, method: str) -> bytes | grpc.StatusCode:
    try:
        answer: bytes = await channel.unary_unary(method)(b"", metadata=GOOD, timeout=2)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return answer


async def answers(addr: str, expected: set[str]) -> bool:
    """Whether 12 calls were all answered, by exactly the replicas `expected`."""
    async with grpc.aio.insecure_channel(addr) as channel:
        seen = {await call_on(channel, APP_METHOD) for _ in range(12)}
    return seen == {name.encode() for name in expected}


def h2load_summary(output: str) -> dict[str, int]:
    """`requests: N total, ... S succeeded, F failed` and `status codes: a 2xx, ... e 5xx`."""
    found: dict[str, int] = {}
    for line in output.splitlines():
        line = line.strip()
        if line.startswith(("requests:", "status codes:")):
            for part in line.split(":", 1)[1].split(","):
                count, _, label = part.strip().partition(" ")
                found[label] = int(count)
    return found
