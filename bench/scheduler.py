"""The scheduler at cluster scale: N simulated agents, M sessions, optional leader failover.

    .venv/bin/python -m bench.scheduler --agents 5000 --sessions 20000
    .venv/bin/python -m bench.scheduler --agents 50 --sessions 300 --kill-leader-after 5
    .venv/bin/python -m bench.scheduler --agents 50 --sessions 1000 --live --via-edge

Starts the real storage, auth, registry, edge and scheduler processes (two scheduler replicas
with --kill-leader-after), on a fresh database on the local PostgreSQL and a fresh Redis key
prefix, plus one simulated fleet process (services/agent/simulated) of N agents with 64 cores
and 256 GiB each. Sessions (0.25 core, 256 MiB, the default image) are created through the
registry's public SessionService.CreateSession as fast as it takes them (--concurrency
requests in flight; --via-edge: signed REST through the edge instead, see
bench/scheduler_submit.py). By default the schedulers start only once every session is
queued, so M sessions are pending when the first placement is decided and the figures are the
scheduler's over a full queue, not the submission rate; --live starts them before the first
create (the queue then never holds more than the create rate lets in), as
--kill-leader-after always does: a failover is measured during a burst of creates, so that the
standby has binds left to do.

After the burst: creates/s, overall and for its first and last thousand, and the CPU time per
create of each service and of PostgreSQL's backends (bench/create_cpu.py).

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
import secrets
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from redis.asyncio import Redis
from shipyard.registry.v1 import cluster_service_pb2 as cluster_pb
from shipyard.registry.v1 import cluster_service_pb2_grpc as cluster_grpc

from bench.bench_platform import superadmin_client
from bench.create_cpu import CreateCpu
from bench.proc_cpu import cpu_seconds
from bench.scheduler_report import Report
from bench.scheduler_submit import submit
from cli.infra import free_port
from cli.platform import Platform, PlatformConfig
from libs.grpcutil.client import internal_channel


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
            async with asyncio.timeout(120 + n / 8):  # registration is slow on a loaded machine
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
        leader = holder.decode() if isinstance(holder, bytes) else str(holder)
        name, proc = self.schedulers[leader]
        killed_at = datetime.now(UTC)
        proc.send_signal(signal.SIGKILL)
        print(f"killed the leader {leader} ({name}) with SIGKILL")
        return killed_at

    async def wait_done(self, total: int) -> None:
        """Until every session is RUNNING, nothing changed for a minute, or --max-wait."""
        conn = await asyncpg.connect(self.pg_url)
        last, last_change = -1, time.perf_counter()
        deadline = time.perf_counter() + (self.args.max_wait or float("inf"))
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
                if time.perf_counter() > deadline:
                    print(f"--max-wait reached at {running}/{total} RUNNING")
                    return
                await asyncio.sleep(0.5)
        finally:
            await conn.close()

    def report(self) -> Report:
        assert self.platform.infra is not None
        logs = self.platform.config.data_dir / "logs"
        return Report(
            pg_url=self.pg_url,
            redis_url=self.platform.infra.redis_url,
            prefix=self.prefix,
            logs=[logs / f"{name}.log" for name, _ in self.schedulers.values()],
            failover=self.args.kill_leader_after is not None,
        )


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
            starting_registries=args.starting_registries,
        )
        platform = Platform(config)
        await platform.start()
        assert platform.infra is not None
        pg_url = platform.infra.database_url.replace("+asyncpg", "")
        try:
            bench = Bench(platform, args)
            await bench.start_fleet()
            async with superadmin_client(platform) as client:
                # A failover is measured during a burst: the standby must have binds left to do.
                live = args.live or args.kill_leader_after is not None
                if live:
                    await bench.start_schedulers()
                killer = None
                if args.kill_leader_after is not None:
                    killer = asyncio.create_task(bench.kill_leader())
                cpu = CreateCpu(platform, pg_url, database)
                await cpu.start()
                await submit(
                    platform,
                    client,
                    args.sessions,
                    concurrency=args.concurrency,
                    direct=not args.via_edge,
                )
                await cpu.report(args.sessions)
                registries = [
                    platform.processes[n].pid for n in platform.config.instances("registry")
                ]
                cpu_before = sum(cpu_seconds(pid) for pid in registries)
                if not live:
                    await bench.start_schedulers()
                await bench.wait_done(args.sessions)
                cpu_used = sum(cpu_seconds(pid) for pid in registries) - cpu_before
                killed_at = await killer if killer is not None else None
                await bench.report().report(args.sessions, killed_at, registry_cpu=cpu_used)
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
        "--live",
        action="store_true",
        help="start the schedulers before the first create (default: once all are queued)",
    )
    parser.add_argument(
        "--via-edge",
        action="store_true",
        help="create through the edge (signed REST), not the registry's SessionService",
    )
    parser.add_argument("--max-wait", type=float, help="seconds to wait for RUNNING at most")
    parser.add_argument(
        "--starting-registries",
        type=int,
        default=0,
        metavar="N",
        help="registry processes that start what the first one binds (default 0: one registry"
        " does everything; docs/scheduler-scale.md)",
    )
    parser.add_argument("--data-dir", type=Path, help="keep logs here (default: a temp dir)")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
