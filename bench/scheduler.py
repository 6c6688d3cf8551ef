"""The scheduler at cluster scale: N simulated agents, M sessions, optional leader failover.

    .venv/bin/python -m bench.scheduler --agents 5000 --sessions 20000 [--queue-first]
    .venv/bin/python -m bench.scheduler --agents 1000 --sessions 5000 --kill-leader-after 2

Starts the real storage, auth, registry, edge and scheduler processes (two scheduler replicas
with --kill-leader-after), on a fresh database on the local PostgreSQL and a fresh Redis key
prefix, plus one simulated fleet process (services/agent/simulated) of N agents with 64 cores
and 256 GiB each. Sessions (0.25 core, 256 MiB, the default image) are created through the
public API as fast as it takes them (--concurrency requests in flight). With --queue-first the
schedulers start only once every session is queued: the figures are then the scheduler's over
a full queue, not the submission rate.

Figures (docs/scheduler-scale.md), printed as the last lines:
  placements/s          sessions moved PENDING → SCHEDULED / (last such move - first)
  decision p99 ms       one placement decision (predicates, selection, assume) in the
                        scheduler, from its log
  create→RUNNING p50 ms from the session's creation to RUNNING, as the registry recorded them
  reached RUNNING       sessions RUNNING at the end / M
and with --kill-leader-after S (the leader is killed with SIGKILL S seconds after the
schedulers start):
  failover s            from the kill to the first bind by the standby
  double-bound          kernels started on more than one agent (from the kernel event stream)
  leaked slots          agents whose occupied slots differ from their live kernels' sum
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2
from shipyard.registry.v1 import cluster_service_pb2 as cluster_pb
from shipyard.registry.v1 import cluster_service_pb2_grpc as cluster_grpc

from cli.client import ApiError, ShipyardClient
from cli.infra import free_port
from cli.platform import Platform, PlatformConfig
from libs.core.slots import ResourceSlots
from libs.grpcutil.client import internal_channel

REQUEST = {"cpu": "0.25", "mem": str(256 << 20)}
_P99 = re.compile(r"p99 ([0-9.]+) ms")
_OCCUPYING = ("SCHEDULED", "PULLING", "PREPARING", "RUNNING", "TERMINATING")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


class Bench:
    def __init__(self, platform: Platform, args: argparse.Namespace) -> None:
        self.platform = platform
        self.args = args
        self.schedulers: dict[str, tuple[str, asyncio.subprocess.Process]] = {}  # id → name
        assert platform.infra is not None
        self.pg_url = platform.infra.database_url.replace("+asyncpg", "")
        self.prefix = platform.config.redis_prefix

    async def start_fleet(self) -> None:
        n = self.args.agents
        await self.platform.launch(
            "agent",
            "services.agent.simulated",
            *("--count", str(n), "--bind", self.platform.address("agent"), "--prefix", "sim"),
            env=self.platform.env_for("agent"),
        )
        channel = internal_channel(self.platform.address("registry"), self.platform.internal_token)
        started = time.perf_counter()
        try:
            stub = cluster_grpc.ClusterServiceStub(channel)
            async with asyncio.timeout(120 + n / 20):
                while True:
                    reply = await stub.ListAgents(cluster_pb.ListAgentsRequest())
                    alive = sum(1 for a in reply.agents if a.status == a.STATUS_ALIVE)
                    if alive >= n:
                        break
                    await asyncio.sleep(0.5)
        finally:
            await channel.close()
        print(f"{n} simulated agents registered in {time.perf_counter() - started:.1f} s")

    async def start_schedulers(self) -> None:
        replicas = 2 if self.args.kill_leader_after is not None else 1
        for i in range(replicas):
            name = "scheduler" if i == 0 else f"scheduler-{i}"
            env = self.platform.env_for("scheduler")
            if i:
                port = free_port()
                env["SCHEDULER_BIND"] = f"127.0.0.1:{port}"
                env["SCHEDULER_SCHEDULER_ID"] = f"scheduler-{port}"
            proc = await self.platform.launch(name, "services.scheduler", env=env)
            self.schedulers[env["SCHEDULER_SCHEDULER_ID"]] = (name, proc)

    async def submit(self, client: ShipyardClient) -> list[str]:
        gate = asyncio.Semaphore(self.args.concurrency)
        ids: list[str] = []

        async def one() -> None:
            token = secrets.token_hex(8)  # the same on retries: one session however many tries
            async with gate:
                for attempt in range(10):
                    try:
                        made = await client.create_session(resources=REQUEST, client_token=token)
                    except ApiError as exc:
                        if exc.status not in (429, 503) or attempt == 9:
                            raise
                        await asyncio.sleep(0.2 * 2**attempt)
                        continue
                    ids.append(made["session_id"])
                    return

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(self.args.sessions)))
        elapsed = time.perf_counter() - started
        print(f"{len(ids)} sessions created in {elapsed:.1f} s ({len(ids) / elapsed:.0f}/s)")
        return ids

    async def kill_leader(self) -> datetime | None:
        await asyncio.sleep(self.args.kill_leader_after)
        redis = Redis.from_url(self.platform.infra.redis_url if self.platform.infra else "")
        try:
            holder = await redis.get(f"{self.prefix}scheduler:leader")
        finally:
            await redis.aclose()
        if holder is None:
            print("no leader to kill")
            return None
        name, proc = self.schedulers[holder.decode()]
        killed_at = datetime.now(UTC)
        proc.send_signal(signal.SIGKILL)
        print(f"killed the leader {holder.decode()} ({name}) with SIGKILL")
        return killed_at

    async def wait_done(self, total: int) -> None:
        """Until every session is RUNNING, or nothing changed for a minute."""
        conn = await asyncpg.connect(self.pg_url)
        last, last_change = -1, time.perf_counter()
        try:
            while True:
                running = await conn.fetchval(
                    "SELECT count(*) FROM registry.sessions WHERE status = 'RUNNING'"
                )
                if running >= total:
                    return
                if running != last:
                    last, last_change = running, time.perf_counter()
                elif time.perf_counter() - last_change > 60:
                    print(f"no progress for 60 s at {running}/{total} RUNNING; giving up")
                    return
                await asyncio.sleep(0.5)
        finally:
            await conn.close()

    async def report(self, total: int, killed_at: datetime | None) -> None:
        conn = await asyncpg.connect(self.pg_url)
        try:
            rows = await conn.fetch(
                "SELECT created_at, status, (status_history->>'SCHEDULED')::timestamptz AS sch,"
                " (status_history->>'RUNNING')::timestamptz AS run FROM registry.sessions"
            )
            agents = await conn.fetch("SELECT id, occupied_slots FROM registry.agents")
            kernels = await conn.fetch(
                "SELECT agent_id, requested_slots FROM registry.kernels"
                " WHERE agent_id IS NOT NULL AND status = ANY($1::text[])",
                list(_OCCUPYING),
            )
        finally:
            await conn.close()
        scheduled = sorted(r["sch"] for r in rows if r["sch"] is not None)
        span = (scheduled[-1] - scheduled[0]).total_seconds() if len(scheduled) > 1 else 0.0
        to_running = [(r["run"] - r["created_at"]).total_seconds() * 1000 for r in rows if r["run"]]
        reached = sum(1 for r in rows if r["status"] == "RUNNING")
        print(f"placements/s: {len(scheduled) / span if span else 0.0:.0f}")
        print(f"decision p99 ms: {self._decision_p99():.3f}")
        print(f"create→RUNNING p50 ms: {_pct(to_running, 0.5):.0f}")
        if to_running:
            queued = [(r["sch"] - r["created_at"]).total_seconds() * 1000 for r in rows if r["sch"]]
            starting = [(r["run"] - r["sch"]).total_seconds() * 1000 for r in rows if r["run"]]
            print(
                f"  (create→RUNNING mean {statistics.mean(to_running):.0f} ms; p50 of"
                f" create→SCHEDULED {_pct(queued, 0.5):.0f} ms,"
                f" SCHEDULED→RUNNING {_pct(starting, 0.5):.0f} ms)",
                file=sys.stderr,
            )
        print(f"reached RUNNING: {reached}/{total}")
        if self.args.kill_leader_after is None:
            return
        after = [t for t in scheduled if killed_at is not None and t > killed_at]
        failover = (after[0] - killed_at).total_seconds() if after and killed_at else None
        print(f"failover s: {failover:.2f}" if failover is not None else "failover s: n/a")
        print(f"double-bound: {await self._double_bound()}")
        print(f"leaked slots: {_leaked(agents, kernels)}")

    def _decision_p99(self) -> float:
        worst = 0.0
        for name, _ in self.schedulers.values():
            log = self.platform.config.data_dir / "logs" / f"{name}.log"
            found = _P99.findall(log.read_text(errors="replace")) if log.exists() else []
            if found:
                worst = max(worst, float(found[-1]))
        return worst

    async def _double_bound(self) -> int:
        assert self.platform.infra is not None
        redis = Redis.from_url(self.platform.infra.redis_url)
        agents_of: dict[str, set[str]] = defaultdict(set)
        try:
            start = "-"
            while True:
                batch = await redis.xrange(f"{self.prefix}events:kernel", min=start, count=5000)
                if not batch:
                    break
                for _, fields in batch:
                    life = events_pb2.Event.FromString(fields[b"data"]).kernel_lifecycle
                    if life.phase == events_pb2.KernelLifecycle.PHASE_STARTED:
                        agents_of[life.kernel_id].add(life.agent_id)
                start = "(" + batch[-1][0].decode()
        finally:
            await redis.aclose()
        return sum(1 for agents in agents_of.values() if len(agents) > 1)


def _leaked(agents: list[asyncpg.Record], kernels: list[asyncpg.Record]) -> int:
    live: dict[str, ResourceSlots] = defaultdict(ResourceSlots)
    for k in kernels:
        live[k["agent_id"]] = live[k["agent_id"]] + ResourceSlots(_json(k["requested_slots"]))
    return sum(
        1
        for a in agents
        if ResourceSlots(_json(a["occupied_slots"])) != live.get(a["id"], ResourceSlots())
    )


def _json(value: object) -> dict[str, str]:
    """asyncpg returns jsonb as text."""
    loaded = json.loads(value) if isinstance(value, str) else value
    return dict(loaded) if isinstance(loaded, dict) else {}


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if args.data_dir is not None:
            tmp = str(args.data_dir)  # keep the services' logs for a look afterwards
        database = f"shipyard_bench_sched_{secrets.token_hex(3)}"
        config = PlatformConfig.ephemeral(
            Path(tmp),
            database=database,
            redis_prefix=f"bench-sched:{secrets.token_hex(3)}:",
            start_scheduler_and_agent=False,
        )
        platform = Platform(config)
        await platform.start()
        assert platform.infra is not None
        pg_url = platform.infra.database_url.replace("+asyncpg", "")
        try:
            bench = Bench(platform, args)
            await bench.start_fleet()
            assert platform.keypair is not None
            async with ShipyardClient(
                platform.endpoint, platform.keypair.access_key, platform.keypair.secret_key
            ) as client:
                if not args.queue_first:
                    await bench.start_schedulers()
                killer = None
                if args.kill_leader_after is not None and not args.queue_first:
                    killer = asyncio.create_task(bench.kill_leader())
                await bench.submit(client)
                if args.queue_first:
                    await bench.start_schedulers()
                    if args.kill_leader_after is not None:
                        killer = asyncio.create_task(bench.kill_leader())
                await bench.wait_done(args.sessions)
                killed_at = await killer if killer is not None else None
                await bench.report(args.sessions, killed_at)
        finally:
            await platform.stop()
            with contextlib.suppress(Exception):
                admin = await asyncpg.connect(pg_url.rsplit("/", 1)[0] + "/postgres")
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--kill-leader-after", type=float, default=None, metavar="S")
    parser.add_argument("--concurrency", type=int, default=64, help="creates in flight")
    parser.add_argument(
        "--queue-first",
        action="store_true",
        help="start the schedulers only once every session is queued",
    )
    parser.add_argument("--data-dir", type=Path, help="keep logs here (default: a temp dir)")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
