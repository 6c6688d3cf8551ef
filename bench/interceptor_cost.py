"""The Python work of one served call without grpc's core: interceptor, server span, servicer.

    .venv/bin/python -m bench.interceptor_cost [--calls 20000] [--rounds 5] [--otel]

Calls `GetCurrentIdentity` through Shipyard's server interceptor the way grpc.aio does (the
interceptor chain, then the handler it returns), with the metadata the edge sends (internal
token, identity headers, trace context), in this process, and prints the CPU time per call of
each round. `--otel` puts OpenTelemetry's gRPC server instrumentation in front of the
interceptor, as the services ran before their interceptor opened the server span itself
(run it on that code to compare; on later code the call then has two server spans).
Wall-clock-free and without sockets, so it moves less with other load than `bench.grpc_floor`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import grpc
from shipyard.auth.v1 import identity_service_pb2 as pb

from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, Role, caller_to_headers
from libs.grpcutil.interceptors import ServiceInterceptor
from libs.telemetry.tracing import setup_tracing
from services.auth.api.servicer import IdentityServicer

METHOD = "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"
TOKEN = "bench-interceptor-cost"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Metadatum(NamedTuple):  # grpc.aio hands metadata out as (key, value) pairs with names
    key: str
    value: str


class _Context:
    """What the interceptor and the servicer read of grpc.aio's servicer context."""

    def __init__(self, metadata: tuple[Metadatum, ...]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[Metadatum, ...]:
        return self._metadata

    def peer(self) -> str:
        return "ipv4:127.0.0.1:50000"

    def code(self) -> None:
        return None

    def details(self) -> None:
        return None


class _Details(NamedTuple):
    method: str
    invocation_metadata: tuple[Any, ...]


async def measure(calls: int, rounds: int, otel: bool) -> list[float]:
    handler = grpc.unary_unary_rpc_method_handler(IdentityServicer().GetCurrentIdentity)
    chain: list[Any] = [ServiceInterceptor(domain="bench", internal_token=TOKEN)]
    if otel:
        from opentelemetry.instrumentation.grpc import aio_server_interceptor

        chain.insert(0, aio_server_interceptor())

    def continuation(i: int) -> Callable[[Any], Awaitable[Any]]:
        async def next_handler(details: Any) -> Any:
            if i == len(chain):
                return handler
            return await chain[i].intercept_service(continuation(i + 1), details)

        return next_handler

    headers = caller_to_headers(Caller(user_id="u-bench", role=Role.SUPERADMIN))
    pairs = [(HEADER_INTERNAL_TOKEN, TOKEN), ("traceparent", TRACEPARENT), *headers.items()]
    metadata = tuple(Metadatum(k, v) for k, v in pairs)
    request = pb.GetCurrentIdentityRequest()
    first = continuation(0)
    figures = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            served = await first(_Details(METHOD, ()))
            await served.unary_unary(request, _Context(metadata))
        figures.append((time.process_time() - started) / calls * 1e6)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--otel", action="store_true")
    args = parser.parse_args()
    setup_tracing("bench", otlp_endpoint=None)  # as every service does before its server
    figures = asyncio.run(measure(args.calls, args.rounds, args.otel))
    print("CPU us per call:", ", ".join(f"{f:.0f}" for f in figures))


if __name__ == "__main__":
    main()
