"""Create and destroy N sessions through the edge; print create→RUNNING and execute latencies.

    .venv/bin/python -m bench.sessions [--sessions 200] [--concurrency 4] [--backend container]

It starts its own platform (free ports, its own database) unless --endpoint/--access-key/
--secret-key point it at a running one. Figures are wall-clock on this machine. With
`--backend container` its agent runs kernels as containers (the engine must answer, or Podman
must be installed; the image must be present: `scripts/build-test-images`).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time

from bench.bench_platform import bench_platform, superadmin_client
from cli.client import ShipyardClient
from cli.engine import choose_backend


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# What every benchmark session asks for.
RESOURCES = {"cpu": "0.25", "mem": "134217728"}


async def create_running(client: ShipyardClient) -> dict:
    """Create a benchmark session and wait for it; fail unless it reached RUNNING."""
    session = await client.create_session(
        wait=True, resources=RESOURCES, client_token=secrets.token_hex(8)
    )
    if session["status"] != "SESSION_STATUS_RUNNING":
        raise RuntimeError(f"session did not start: {session}")
    return session


async def timed_executes(client: ShipyardClient, sid: str, calls: int, into: list[float]) -> None:
    """Run `print(6*7)` `calls` times on session `sid`, appending each round trip (ms) to `into`."""
    for _ in range(calls):
        started = time.perf_counter()
        result = await client.execute(sid, "print(6*7)")
        into.append((time.perf_counter() - started) * 1000)
        if result["stdout"] != "42\n":
            raise RuntimeError(f"unexpected output: {result}")


async def one_session(
    client: ShipyardClient, create_ms: list[float], exec_ms: list[float], executes: int = 3
) -> None:
    """Create a session and wait for RUNNING, run `print(6*7)` `executes` times, destroy it."""
    t0 = time.perf_counter()
    session = await create_running(client)
    create_ms.append((time.perf_counter() - t0) * 1000)
    sid = session["session_id"]
    try:
        await timed_executes(client, sid, executes, exec_ms)
    finally:
        await client.destroy_session(sid)


async def drive(
    client: ShipyardClient, sessions: int, concurrency: int
) -> tuple[list[float], list[float]]:
    """create→RUNNING and execute latencies (ms) of `sessions` sessions, `concurrency` at once."""
    create_ms: list[float] = []
    exec_ms: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def guarded() -> None:
        async with gate:
            await one_session(client, create_ms, exec_ms)

    await asyncio.gather(*(guarded() for _ in range(sessions)))
    return create_ms, exec_ms


async def run(client: ShipyardClient, sessions: int, concurrency: int) -> None:
    started = time.perf_counter()
    create_ms, exec_ms = await drive(client, sessions, concurrency)
    elapsed = time.perf_counter() - started
    print(f"sessions: {sessions}, concurrency: {concurrency}, wall time: {elapsed:.1f} s")
    print(
        f"create→RUNNING ms: p50 {pct(create_ms, 0.5):.1f}  p99 {pct(create_ms, 0.99):.1f}"
        f"  mean {statistics.mean(create_ms):.1f}"
    )
    print(
        f"execute round trip ms ({len(exec_ms)} calls): p50 {pct(exec_ms, 0.5):.1f}"
        f"  p99 {pct(exec_ms, 0.99):.1f}  mean {statistics.mean(exec_ms):.1f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--endpoint")
    parser.add_argument("--access-key")
    parser.add_argument("--secret-key")
    parser.add_argument("--backend", choices=("process", "container"), default="process")
    parser.add_argument(
        "--agent-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an AGENT_ setting for the started agent, without the prefix (repeatable)",
    )
    args = parser.parse_args()
    if args.endpoint:
        async with ShipyardClient(args.endpoint, args.access_key, args.secret_key) as client:
            await run(client, args.sessions, args.concurrency)
        return
    backend, detail = await choose_backend(args.backend)
    agent_env = {"BACKEND": backend} | ({"DOCKER_HOST": detail} if backend == "container" else {})
    agent_env |= dict(item.split("=", 1) for item in args.agent_env)
    print(f"kernel backend: {backend} ({detail})")
    async with (
        bench_platform(agent_env=agent_env) as platform,
        superadmin_client(platform) as client,
    ):
        await run(client, args.sessions, args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
