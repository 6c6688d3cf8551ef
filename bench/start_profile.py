"""Where the time of create→RUNNING goes, hop by hop, from the platform's own traces.

    .venv/bin/python -m bench.start_profile [--sessions 30]

Starts a process-backend platform that exports its spans to a receiver in this process, creates
sessions one at a time (waiting for RUNNING), and prints for every span of the create trace its
median start offset and median duration, in milliseconds from the moment the edge handed the
request to the registry. Tracing itself costs time (every span is exported), so the offsets are
a little larger than untraced figures; the order and the gaps between hops are what it shows.
It also prints the CPU time (user + system, from /proc) each of the platform's processes spent
per session (create → RUNNING, three executes, destroy): unlike wall-clock offsets, that hardly
depends on what else the machine runs. Kernels' own processes are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass

import grpc
import psutil
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from typing_extensions import override

from bench.bench_platform import bench_platform, superadmin_client
from bench.sessions import drive

CREATE = "/shipyard.registry.v1.SessionService/CreateSession"
EXECUTE = "/shipyard.registry.v1.SessionService/Execute"


@dataclass(frozen=True, slots=True)
class Span:
    service: str
    name: str
    trace_id: bytes
    start_ns: int
    end_ns: int


class _Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[Span] = []

    @override
    async def Export(
        self, request: ExportTraceServiceRequest, _context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attrs.get("service.name", "")
            for scope in resource_spans.scope_spans:
                for s in scope.spans:
                    span = Span(
                        service, s.name, s.trace_id, s.start_time_unix_nano, s.end_time_unix_nano
                    )
                    self.spans.append(span)
        return trace_service_pb2.ExportTraceServiceResponse()


def hop_table(spans: list[Span], root: str) -> list[tuple[str, float, float, int]]:
    """(service: span, median start offset ms, median duration ms, traces seen), by offset, of
    the traces whose registry span is named `root`."""
    by_trace: dict[bytes, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    offsets: dict[str, list[float]] = defaultdict(list)
    durations: dict[str, list[float]] = defaultdict(list)
    for trace in by_trace.values():
        roots = [s for s in trace if s.name == root and s.service == "registry"]
        if not roots:
            continue
        t0 = roots[0].start_ns
        seen: set[str] = set()
        for span in sorted(trace, key=lambda s: s.start_ns):
            key = f"{span.service}: {span.name}"
            if key in seen:  # a repeated span (e.g. each status read): its first occurrence
                key = f"{key} (again)"
            seen.add(key)
            offsets[key].append((span.start_ns - t0) / 1e6)
            durations[key].append((span.end_ns - span.start_ns) / 1e6)
    rows = [
        (key, statistics.median(offsets[key]), statistics.median(durations[key]), len(offsets[key]))
        for key in offsets
    ]
    return sorted(rows, key=lambda r: r[1])


def _cpu(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """Seconds of CPU (user + system) each process has spent so far."""
    times = {n: p.cpu_times() for n, p in procs.items()}
    return {n: t.user + t.system for n, t in times.items()}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=30)
    args = parser.parse_args()
    server = grpc.aio.server()
    receiver = _Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with (
        bench_platform(
            agent_env={"BACKEND": "process"}, otlp_endpoint=f"127.0.0.1:{port}"
        ) as platform,
        superadmin_client(platform) as client,
    ):
        await drive(client, 3, 1)
        receiver.spans.clear()
        procs = {n: psutil.Process(p.pid) for n, p in platform.processes.items()}
        before = _cpu(procs)
        create_ms, exec_ms = await drive(client, args.sessions, 1)
        after = _cpu(procs)
    await server.stop(None)
    print(f"create→RUNNING (traced) median {statistics.median(create_ms):.1f} ms")
    print(f"execute (traced) median {statistics.median(exec_ms):.1f} ms")
    spent = {n: (after[n] - before[n]) * 1000 / args.sessions for n in after}
    print("CPU ms per session: " + ", ".join(f"{n} {ms:.1f}" for n, ms in spent.items()))
    for root in (CREATE, EXECUTE):
        print(f"\n{'offset ms':>10} {'took ms':>8} {'n':>4}  span (traces of {root})")
        for key, offset, took, n in hop_table(receiver.spans, root):
            if n >= args.sessions // 2:
                print(f"{offset:10.1f} {took:8.1f} {n:4d}  {key}")


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
