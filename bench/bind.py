"""The registry's batch bind alone, on the real PostgreSQL: sessions bound per second.

    .venv/bin/python -m bench.bind [--agents 5000] [--sessions 20000] [--batch 1000]

Creates a fresh database with the registry's migrations, registers N agents (64 cores,
256 GiB) and adds M pending sessions (0.25 core, 256 MiB) through the registry's session store,
then binds them in batches of --batch placements (round robin over the agents, as a spreading
selector would) with `SqlSessionStore.bind_many`, the code behind BindSessions. Prints the
bind rate and the p50/p99 of one batch (docs/scheduler-scale.md). No gRPC, no scheduler.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from datetime import UTC, datetime

import asyncpg

from libs.core.config import DEFAULT_DATABASE_URL
from libs.core.heap import freeze_imports
from libs.core.ids import new_id
from libs.core.slots import ResourceSlots
from libs.db.engine import create_engine, session_factory
from libs.db.migrate import upgrade
from services.registry.adapters.agent_store import SqlAgentStore
from services.registry.adapters.session_store import SqlSessionStore
from services.registry.app import MIGRATIONS
from services.registry.domain.model import SessionType
from services.registry.service.ports import (
    AgentRegistration,
    NewKernel,
    NewSession,
    SessionPlacement,
)

REQUEST = ResourceSlots({"cpu": "0.25", "mem": str(256 << 20)})


def _session() -> NewSession:
    sid = new_id()
    return NewSession(
        session_id=sid,
        name=f"b-{sid[:8]}",
        session_type=SessionType.INTERACTIVE,
        image="python:3.11",
        owner_user_id="bench-user",
        access_key="AKBENCHBIND",
        domain_name="default",
        project_id="p",
        resource_group="default",
        mounts=(),
        client_token="",
        startup_command="",
        environ={},
        trace_context={},
        kernels=(NewKernel(kernel_id=new_id(), cluster_role="main", requested_slots=REQUEST),),
        created_at=datetime.now(UTC),
    )


async def measure(url: str, agents: int, sessions: int, batch: int) -> None:
    await upgrade(url, MIGRATIONS, "registry")
    engine = create_engine(url, pool_size=2)
    factory = session_factory(engine)
    store, agent_store = SqlSessionStore(factory), SqlAgentStore(factory)
    now = datetime.now(UTC)
    capacity = ResourceSlots({"cpu": 64, "mem": 256 << 30})
    ids = [f"bind-{i:05d}" for i in range(agents)]
    for agent_id in ids:
        await agent_store.register(
            AgentRegistration(
                agent_id=agent_id,
                address="127.0.0.1:1",
                resource_group="default",
                available_slots=capacity,
                backend="simulated",
                live_kernel_ids=(),
            ),
            now,
        )
    gate = asyncio.Semaphore(2)

    async def add() -> tuple[str, str]:
        async with gate:
            session, _ = await store.add(_session())
        return session.session_id, session.kernels[0].kernel_id

    added = await asyncio.gather(*(add() for _ in range(sessions)))
    placements = [
        SessionPlacement(session_id=sid, kernels={kid: ids[i % agents]})
        for i, (sid, kid) in enumerate(added)
    ]
    took: list[float] = []
    cpu: list[float] = []  # the process's CPU time per batch: steadier than wall on a busy machine
    bound = 0
    started = time.perf_counter()
    for at in range(0, len(placements), batch):
        t0, c0 = time.perf_counter(), time.process_time()
        outcomes = await store.bind_many(placements[at : at + batch])
        took.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        bound += sum(o.bound for o in outcomes)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    ordered = sorted(took)
    print(f"{bound}/{sessions} bound over {agents} agents in batches of {batch}")
    print(f"bind sessions/s: {bound / elapsed:.0f}")
    print(f"batch p50 ms: {statistics.median(took) * 1000:.0f}")
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(f"batch p99 ms: {p99 * 1000:.0f}")
    print(f"batch CPU ms p50: {statistics.median(cpu) * 1000:.0f}")


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bind")
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    base = DEFAULT_DATABASE_URL
    name = f"shipyard_bench_bind_{secrets.token_hex(3)}"
    admin_dsn = base.replace("+asyncpg", "").rsplit("/", 1)[0] + "/postgres"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await measure(base.rsplit("/", 1)[0] + f"/{name}", args.agents, args.sessions, args.batch)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    freeze_imports()  # as the registry does before serving
    asyncio.run(main())
