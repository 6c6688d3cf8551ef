"""Execute alone: `print(6*7)` many times on one warm session, through the edge and hop by hop.

    .venv/bin/python -m bench.execute_loop [--calls 300] [--layers]

Unlike `bench.path_start` (three executions per new session), this keeps one session and its
Jupyter kernel warm, so the figures are those of the execute path only. It prints the round
trip's p10/p50/p90 and, per platform process, the CPU time (user + system, from /proc) spent per
execution and, as `idle`, what the same process spends per execution's worth of wall time with
nothing to do (its background loops). The agent's and the edge's figures include their children:
the kernel's runner and Jupyter kernel, and Envoy.

With `--layers` it also times the same execution entered one hop further in each time, calls
one after another from this process with a pause before each (`--gap-ms`), so that the
kernel's CPU quota has refilled and the figures are the path's:

- `edge, curl`: signed REST through the edge from curl (requests signed in advance), so without
  the Python client's own time;
- `edge`: signed REST through the edge from the Python client, as above;
- `registry`: SessionService.Execute straight to the registry (the identity headers and
  internal token the edge adds; a Python gRPC client), so without Envoy and auth's Check;
- `agent`: AgentService.Execute straight to the agent, as the registry calls it;
- `empty hop`: the registry's gRPC health check, a Python gRPC round trip that does nothing:
  the least any Python hop on the path costs.

The runner and its Jupyter kernel alone (no gRPC, no sandbox): `bench.runner_execute`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from grpc_health.v1 import health_pb2, health_pb2_grpc
from shipyard.registry.v1 import session_service_pb2 as session_pb
from shipyard.registry.v1 import session_service_pb2_grpc as session_grpc
from shipyard.type.v1 import execution_pb2

from bench.bench_platform import bench_platform, superadmin_client, superadmin_headers
from bench.load_tools import curl_sequential
from bench.path_reads import PreSigner
from bench.proc_cpu import cpu_seconds
from bench.sessions import create_running, pct, timed_executes
from cli.client import ShipyardClient
from cli.platform import Platform
from libs.grpcutil.client import internal_channel
from services.registry.adapters.peer_clients import GrpcAgentClient
from services.registry.domain.model import ExecMode

WARM_UP = 20  # the first execution waits for the Jupyter kernel to start
CODE = "print(6*7)"


def _cpu(platform: Platform) -> dict[str, float]:
    return {
        name: cpu_seconds(proc.pid, children=name.startswith(("agent", "edge")))
        for name, proc in platform.processes.items()
    }


async def _timed(call: Callable[[], Awaitable[None]], calls: int, gap: float) -> list[float]:
    for _ in range(WARM_UP):
        await call()
    took: list[float] = []
    for _ in range(calls):
        if gap:
            await asyncio.sleep(gap)
        started = time.perf_counter()
        await call()
        took.append((time.perf_counter() - started) * 1000)
    return took


def _show(name: str, took: list[float]) -> None:
    p10, p50, p90 = (pct(took, q) for q in (0.1, 0.5, 0.9))
    print(f"{name:10} ms: p10 {p10:.2f}  p50 {p50:.2f}  p90 {p90:.2f}")


async def _layers(
    platform: Platform, client: ShipyardClient, session: dict[str, Any], calls: int, gap: float
) -> None:
    headers = superadmin_headers(platform, await client.whoami())
    token = platform.internal_token
    request = session_pb.ExecuteRequest(
        session_id=session["session_id"], code=CODE, mode=execution_pb2.EXECUTION_MODE_QUERY
    )
    registry = platform.address("registry")
    mtls = platform.mtls_files(platform.config.instances("registry")[0])
    agents = GrpcAgentClient(token, mtls=mtls)
    kernel_id = str(session["kernels"][0]["kernel_id"])
    agent = platform.address("agent")
    async with internal_channel(registry, token, mtls) as channel:
        stub = session_grpc.SessionServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)

        async def via_edge() -> None:
            _expect((await client.execute(session["session_id"], CODE))["stdout"])

        async def via_registry() -> None:
            reply = await stub.Execute(request, metadata=headers)
            _expect(reply.result.stdout)

        async def via_agent() -> None:
            outcome = await agents.execute(agent, kernel_id, ExecMode.QUERY, CODE, 60.0)
            _expect(outcome.stdout)

        async def empty_hop() -> None:
            await health.Check(health_pb2.HealthCheckRequest())

        try:
            _show("edge, curl", await _curl_layer(platform, session["session_id"], calls, gap))
            for name, call in [
                ("edge", via_edge),
                ("registry", via_registry),
                ("agent", via_agent),
                ("empty hop", empty_hop),
            ]:
                _show(name, await _timed(call, calls, gap))
        finally:
            await agents.close()


async def _curl_layer(platform: Platform, session_id: str, calls: int, gap: float) -> list[float]:
    """The edge's round trip as a C client sees it: pre-signed requests from one curl process."""
    assert platform.keypair is not None
    authority = platform.endpoint.removeprefix("http://")
    signer = PreSigner(platform.keypair.access_key, platform.keypair.secret_key, authority)
    rel = f"/v1/sessions/{session_id}:execute"
    body = json.dumps({"code": CODE, "mode": "EXECUTION_MODE_QUERY"})
    rate = round(1 / gap) if gap else 0
    url = platform.endpoint + rel
    await curl_sequential(url, signer.many("POST", rel, "application/json", WARM_UP), body)
    return await curl_sequential(
        url, signer.many("POST", rel, "application/json", calls), body, per_second=rate
    )


def _expect(stdout: str) -> None:
    if stdout != "42\n":
        raise RuntimeError(f"unexpected output: {stdout!r}")


async def measure(calls: int, layers: bool, gap: float) -> None:
    async with bench_platform() as platform, superadmin_client(platform) as client:
        session = await create_running(client)
        sid = session["session_id"]
        await timed_executes(client, sid, WARM_UP, [])
        before = _cpu(platform)
        took: list[float] = []
        await timed_executes(client, sid, calls, took)
        busy = _cpu(platform)
        await asyncio.sleep(sum(took) / 1000)
        idle = _cpu(platform)
        if layers:
            print(f"hop by hop, {gap * 1000:.0f} ms between calls:")
            await _layers(platform, client, session, calls, gap)
        await client.destroy_session(sid)
    p10, p50, p90 = (pct(took, q) for q in (0.1, 0.5, 0.9))
    print(f"execute ms: p10 {p10:.2f}  p50 {p50:.2f}  p90 {p90:.2f}")
    for name, seconds in busy.items():
        per_call = (seconds - before[name]) / calls * 1000
        at_rest = (idle[name] - seconds) / calls * 1000
        print(f"CPU ms per execution, {name}: {per_call:.2f} (idle: {at_rest:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--layers", action="store_true", help="also hop by hop (above)")
    parser.add_argument(
        "--gap-ms",
        type=float,
        default=100.0,
        help="pause before each hop-by-hop call, so that the kernel's CPU quota (0.25 core: "
        "25 ms per 100 ms period) is never what a call waits for",
    )
    args = parser.parse_args()
    asyncio.run(measure(args.calls, args.layers, args.gap_ms / 1000))


if __name__ == "__main__":
    main()
