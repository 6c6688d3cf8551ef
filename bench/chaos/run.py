"""Bring the platform up on private PostgreSQL/Redis, run a scenario, report what became of it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bench.chaos.cluster import Cluster
from bench.chaos.faults import FaultLog, Faults
from bench.chaos.infra import PrivatePostgres, PrivateRedis
from bench.chaos.load import Load, Submission
from bench.chaos.verify import Snapshot, Verdict, judge, live_ids, snapshot_retrying, stuck
from cli.client import ShipyardClient
from services.auth.domain.model import Keypair
from tests.e2e.tenants import ordinary_user

STUCK_AFTER_S = 30.0
BURST = 5  # creations sent the moment each fault begins


@dataclass
class Options:
    sessions: int = 1000
    seed: int = 1
    agents: int = 4
    alive: int = 100
    replicas: int = 2
    heartbeat_timeout: float = 15.0  # the registry's; short so that lost agents show in minutes
    quiet_timeout: float = 180.0
    agent_cpu: str = "4"
    agent_mem: str = str(4 * 1024**3)
    keep: bool = False  # keep the run directory (logs) afterwards
    faults: list[str] | None = None  # only these targets (default: every process, PG, Redis)
    fault_pause: tuple[float, float] | None = None  # default: spread over the submissions


@dataclass
class Env:
    postgres: PrivatePostgres
    redis: PrivateRedis
    cluster: Cluster
    user: Keypair
    client: ShipyardClient
    dsn: str


@contextlib.asynccontextmanager
async def environment(opts: Options) -> AsyncIterator[Env]:
    root = _run_dir()
    print(f"run directory: {root} (logs in {root / 'logs'})", flush=True)
    postgres = PrivatePostgres(root / "postgres")
    redis = PrivateRedis(root / "redis")
    cluster: Cluster | None = None
    try:
        await postgres.init()
        await postgres.start()
        await postgres.create_database("shipyard")
        await redis.start()
        cluster = Cluster(
            root,
            postgres.url("shipyard"),
            redis.url,
            agents=opts.agents,
            replicas=opts.replicas,
            agent_env={"CPU": opts.agent_cpu, "MEM_BYTES": opts.agent_mem},
            registry_env={"HEARTBEAT_TIMEOUT": str(opts.heartbeat_timeout)},
        )
        cluster.plan()
        await cluster.start_all()
        assert cluster.platform is not None
        user = await ordinary_user(cluster.platform)
        async with ShipyardClient(
            cluster.endpoint, user.access_key, user.secret_key, timeout=15.0
        ) as client:
            dsn = f"postgresql://postgres@127.0.0.1:{postgres.port}/shipyard"
            yield Env(postgres, redis, cluster, user, client, dsn)
    finally:
        if cluster is not None:
            await cluster.stop_all()
        await redis.stop()
        with contextlib.suppress(RuntimeError):
            await postgres.stop()
        if not opts.keep:
            shutil.rmtree(root, ignore_errors=True)


def _run_dir() -> Path:
    root = Path(tempfile.mkdtemp(prefix="shipyard-chaos-"))
    root.chmod(0o755)  # PostgreSQL runs as the postgres user under it
    return root


@dataclass
class ChaosResult:
    verdict: Verdict
    stuck: list[str]
    failovers: list[float]
    faults: FaultLog
    submissions: list[Submission]


async def chaos(opts: Options) -> ChaosResult:
    rng = random.Random(opts.seed)
    async with environment(opts) as env:
        load = Load(env.client, opts.sessions, alive=opts.alive)
        # About 4.5 sessions/s here: spread the ~13 faults over the whole submission phase.
        pause = opts.fault_pause or (3.0, max(12.0, opts.sessions * 0.025))
        faults = Faults(env.cluster, env.postgres, env.redis, rng, pause=pause)
        faults.on_fault = lambda: load.burst(BURST)
        targets = faults.plan(opts.faults)
        print(f"faults, in order: {', '.join(targets)}", flush=True)
        fault_run = asyncio.create_task(faults.run(targets))
        started = time.monotonic()
        subs = await load.run()
        faults.log.note(f"submissions done after {time.monotonic() - started:.0f} s")
        log = await fault_run
        acked = [s for s in subs if s.session_id]
        # "Stuck": live and unchanged for 30 s, looked at 30 s after the last fault ended.
        await asyncio.sleep(max(0.0, log.last_end + STUCK_AFTER_S - time.monotonic()))
        snap = await snapshot_retrying(env.dsn, env.user.access_key)
        stuck_ids = stuck(snap, acked, STUCK_AFTER_S)
        snap = await _until_quiet(env, acked, opts.quiet_timeout)
        return ChaosResult(judge(snap, subs), stuck_ids, log.failovers, log, subs)


async def _until_quiet(env: Env, acked: list[Submission], limit: float) -> Snapshot:
    deadline = time.monotonic() + limit
    while True:
        snap = await snapshot_retrying(env.dsn, env.user.access_key)
        if not live_ids(snap, acked) or time.monotonic() > deadline:
            return snap
        await asyncio.sleep(2.0)


def print_outcomes(verdict: Verdict, subs: list[Submission]) -> None:
    print("outcomes (status reason on agents: count, one example):")
    for key, count in verdict.outcomes.most_common():
        print(f"  {key}: {count}  e.g. {verdict.examples.get(key, '')}")
    ran = sum(n for k, n in verdict.outcomes.items() if k.startswith("TERMINATED task-finished"))
    print(f"ran to their end: {ran}; ended otherwise: {verdict.acknowledged - ran}")
    retried = [s for s in subs if s.attempts > 1]
    most = max((s.attempts for s in subs), default=0)
    print(f"creations retried: {len(retried)} (most attempts: {most})")
    for sub in retried[:3]:
        print(f"  token {sub.token}: {sub.attempts} attempts, first error {sub.first_error}")
    refused = [s for s in subs if s.refused]
    for sub in refused[:5]:
        print(f"  not acknowledged: token {sub.token}: {sub.refused}")
    for line in verdict.lost[:10]:
        print(f"  lost: {line}")
    for token in verdict.duplicated[:10]:
        print(f"  duplicated client token: {token}")
    for line in verdict.leaked[:10]:
        print(f"  leaked: {line}")


def print_chaos(result: ChaosResult) -> None:
    print_outcomes(result.verdict, result.submissions)
    for sid in result.stuck[:10]:
        print(f"  stuck: {sid}")
    failover = f"{max(result.failovers):.1f}" if result.failovers else "n/a"
    print(f"acknowledged: {result.verdict.acknowledged}")
    print(f"lost: {len(result.verdict.lost)}")
    print(f"duplicated: {len(result.verdict.duplicated)}")
    print(f"stuck after 30 s: {len(result.stuck)}")
    print(f"leaked slots: {len(result.verdict.leaked)}")
    print(f"scheduler failover s: {failover}", flush=True)
