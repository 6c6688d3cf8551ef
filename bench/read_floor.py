"""What a direct GetSession costs in layers, down to the floor of a Python gRPC server.

    .venv/bin/python -m bench.read_floor [--calls 4000] [--rounds 2]

Starts a platform (process backend), creates one RUNNING session and loads GetSession for it
with h2load, 32 streams as `bench.path_reads` does (4 connections x 8 streams), against:

- `canned`: a grpc.aio server in this process, on the services' event loop, whose GetSession
  answers the registry's own reply for that session, built once: the floor of any Python gRPC
  server answering this RPC here (HTTP/2, the completion queue, serialising the reply);
- `+ session read`: the same server reading the session with the registry's own read path
  (`SqlSessionStore.get`: the read pool's prepared statement, reads in flight shared), then
  answering the canned reply;
- `+ live-state read`: and the Redis live-state read (`SessionQueries.live`);
- `+ conversion`: and domain → protobuf: the registry's whole GetSession body, without
  Shipyard's interceptor;
- `+ Shipyard's server`: that body behind `libs/grpcutil/server.create_server` (the server span,
  identity from headers, access rule, buf.validate; health and reflection registered), with
  tracing set up as every service sets it up;
- `registry`: the real registry process (its background loops idle).

Prints each layer's CPU time per call (user + system, every thread of the serving process;
the load generator is not counted) and req/s. A layer's CPU per call bounds what one process
can serve on one core: 2,000 req/s needs at most 500 µs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable, Sequence

import grpc
from redis.asyncio import Redis
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.registry.v1 import session_service_pb2_grpc as pb_grpc
from typing_extensions import override

from bench.bench_platform import bench_platform, superadmin_client, superadmin_headers
from bench.load_tools import Headers, LoadResult, grpc_frame, h2load
from bench.path_reads import GET_SESSION, GRPC, STREAMS
from bench.proc_cpu import cpu_seconds
from libs.core.event_loop import run as run_loop
from libs.db.engine import create_engine, session_factory
from libs.db.reads import ReadPool
from libs.grpcutil.server import Registration, create_server
from libs.telemetry.tracing import setup_tracing
from services.registry.adapters.kernel_stats_store import RedisKernelStats
from services.registry.adapters.live_state import RedisLiveState
from services.registry.adapters.session_store import SqlSessionStore
from services.registry.api import convert
from services.registry.service.queries import SessionQueries

Handler = Callable[[str], Awaitable[pb.GetSessionResponse]]


class _Layer(pb_grpc.SessionServiceServicer):
    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    @override
    async def GetSession(
        self, request: pb.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSessionResponse:
        return await self._handler(request.session_id)


async def _load(port: int, body: bytes, headers: Headers, calls: int) -> LoadResult:
    url = f"http://127.0.0.1:{port}{GET_SESSION}"
    return await h2load(url, headers=GRPC + headers, count=calls, body=body, expect_data=8)


async def _bare_layer(name: str, handler: Handler, body: bytes, calls: int, rounds: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_SessionServiceServicer_to_server(_Layer(handler), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await _measure_here(name, port, body, [], calls, rounds)
    finally:
        await server.stop(0)


async def _shipyard_layer(
    handler: Handler, token: str, body: bytes, headers: Headers, calls: int, rounds: int
) -> None:
    setup_tracing("bench", otlp_endpoint=None)  # as every service does before its server
    service = Registration(
        pb_grpc.add_SessionServiceServicer_to_server,
        _Layer(handler),
        "shipyard.registry.v1.SessionService",
    )
    server = create_server(
        domain="registry", internal_token=token, bind="127.0.0.1:0", services=[service]
    )
    await server.start()
    try:
        await _measure_here("+ Shipyard's server", server.port, body, headers, calls, rounds)
    finally:
        await server.stop(0)


async def _measure_here(
    name: str, port: int, body: bytes, headers: Headers, calls: int, rounds: int
) -> None:
    await _load(port, body, headers, 300)  # warm-up
    for _ in range(rounds):
        started = time.process_time()
        result = await _load(port, body, headers, calls)
        spent = (time.process_time() - started) / calls * 1e6
        _show(name, spent, result)


def _time_in_loop(name: str, work: Callable[[], object], times: int = 5000) -> None:
    started = time.process_time()
    for _ in range(times):
        work()
    spent = (time.process_time() - started) / times * 1e6
    print(f"{name}: {spent:.1f} us per call ({times} in a loop)")


def _show(name: str, cpu_us: float, result: LoadResult) -> None:
    print(f"{name:28} CPU us per call {cpu_us:6.0f}   req/s {result.rps:6.0f}")


LAYERS = (
    "canned",
    "+ session read",
    "+ live-state read",
    "+ conversion",
    "+ Shipyard's server",
    "registry",
)


async def main(calls: int, rounds: int, layers: Sequence[str]) -> None:
    async with bench_platform(agent_env={"BACKEND": "process"}) as platform:
        assert platform.infra is not None
        async with superadmin_client(platform) as client:
            created = await client.create_session(
                wait=True, resources={"cpu": "0.25", "mem": "134217728"}, client_token="floor"
            )
            identity = await client.whoami()
        session_id = created["session_id"]
        headers = superadmin_headers(platform, identity)
        body = grpc_frame(pb.GetSessionRequest(session_id=session_id).SerializeToString())

        url = platform.infra.database_url
        engine = create_engine(url, pool_size=2)
        reads = ReadPool(url)
        await reads.open()
        redis = Redis.from_url(platform.infra.redis_url)
        sessions = session_factory(engine)
        store = SqlSessionStore(sessions, reads)
        live = RedisLiveState(
            redis, RedisKernelStats(redis, platform.config.redis_prefix, sessions)
        )
        queries = SessionQueries(store, live)
        try:
            session = await store.get(session_id)
            reports, stats = await queries.live([session])
            canned = pb.GetSessionResponse(
                session=convert.session_pb(session, reports.get(session_id), stats)
            )
            print(f"GetSession reply: {canned.ByteSize()} bytes; h2load {STREAMS} streams, "
                  f"{calls} calls per figure")  # fmt: skip
            _time_in_loop("domain → protobuf", lambda: convert.session_pb(session, None, stats))
            _time_in_loop("reply serialised", canned.SerializeToString)

            async def canned_reply(_: str) -> pb.GetSessionResponse:
                return canned

            async def session_read(sid: str) -> pb.GetSessionResponse:
                await store.get(sid)
                return canned

            async def live_read(sid: str) -> pb.GetSessionResponse:
                await queries.live([await store.get(sid)])
                return canned

            async def whole_body(sid: str) -> pb.GetSessionResponse:
                read = await store.get(sid)
                reports, stats = await queries.live([read])
                return pb.GetSessionResponse(
                    session=convert.session_pb(read, reports.get(sid), stats)
                )

            for name, handler in [
                ("canned", canned_reply),
                ("+ session read", session_read),
                ("+ live-state read", live_read),
                ("+ conversion", whole_body),
            ]:
                if name in layers:
                    await _bare_layer(name, handler, body, calls, rounds)
            if "+ Shipyard's server" in layers:
                token = platform.internal_token
                await _shipyard_layer(whole_body, token, body, headers, calls, rounds)
            if "registry" in layers:
                pid = platform.processes["registry"].pid
                address = platform.address("registry")
                await _load_registry(address, pid, body, headers, calls, rounds)
        finally:
            await redis.aclose()
            await reads.close()
            await engine.dispose()
            async with superadmin_client(platform) as client:
                await client.destroy_session(session_id)


async def _load_registry(
    address: str, pid: int, body: bytes, headers: Headers, calls: int, rounds: int
) -> None:
    url = f"http://{address}{GET_SESSION}"
    await h2load(url, headers=GRPC + headers, count=300, body=body, expect_data=8)
    for _ in range(rounds):
        before = cpu_seconds(pid, children=True)
        result = await h2load(url, headers=GRPC + headers, count=calls, body=body, expect_data=8)
        spent = (cpu_seconds(pid, children=True) - before) / calls * 1e6
        _show("registry", spent, result)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--layer", action="append", choices=LAYERS, help="only these layers (default: all)"
    )
    args = parser.parse_args()
    run_loop(main(args.calls, args.rounds, args.layer or LAYERS))


if __name__ == "__main__":
    run()
