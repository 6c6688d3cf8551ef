"""What each write transaction of one session start costs the registry's process, by step.

    .venv/bin/python -m bench.lifecycle_cpu [--sessions 200] [--rounds 3]

On a fresh database, with one agent, it takes `--sessions` sessions one after the other through
the registry's stores as the running platform does (`services/registry/adapters/`): create
(enqueue), bind, claim, the kernel's CREATING and STARTED reports, destroy and the TERMINATED
report. It prints, for each step, this process's CPU time per call (user + system, which other
load on the machine hardly changes), once per round, and the statements the step sends
(counted on the engine). Run it from two trees to compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import event

from libs.core.ids import new_id
from libs.db.engine import create_engine, session_factory
from libs.db.migrate import upgrade
from services.registry.adapters.agent_store import SqlAgentStore
from services.registry.adapters.lifecycle_store import SqlLifecycleStore
from services.registry.adapters.session_store import SqlSessionStore
from services.registry.app import MIGRATIONS
from services.registry.domain.model import Status
from tests.conftest import create_database, drop_database
from tests.integration.registry.factories import new_session, registration

STEPS = ("create", "bind", "claim", "creating", "started", "destroy", "terminated")


class _Steps:
    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.statements: dict[str, int] = defaultdict(int)
        self._step = ""

    def counted(self, *_: object) -> None:
        if self._step:
            self.statements[self._step] += 1

    async def run(self, step: str, call: Callable[[], Awaitable[object]]) -> None:
        self._step = step
        start = time.process_time()
        await call()
        self.cpu[step] += time.process_time() - start
        self._step = ""


async def _start_and_end(
    steps: _Steps, store: SqlSessionStore, lifecycle: SqlLifecycleStore, agent_id: str
) -> None:
    new = new_session(cpu="0.1", mem="10")
    kernel_id = new.kernels[0].kernel_id

    def report(status: Status, reason: str) -> Callable[[], Awaitable[object]]:
        return lambda: lifecycle.apply_kernel_status(
            kernel_id, status, agent_id=agent_id, reason=reason, event_id=new_id()
        )

    await steps.run("create", lambda: store.add(new))
    await steps.run("bind", lambda: store.bind(new.session_id, {kernel_id: agent_id}))
    await steps.run("claim", lambda: lifecycle.claim_scheduled(10))
    await steps.run("creating", report(Status.PREPARING, "creating"))
    await steps.run("started", report(Status.RUNNING, "started"))
    destroy = lifecycle.begin_destroy
    await steps.run("destroy", lambda: destroy(new.session_id, forced=True, reason="user"))
    await steps.run("terminated", report(Status.TERMINATED, "user"))


async def _round(url: str, sessions: int) -> _Steps:
    engine = create_engine(url, pool_size=2)
    factory = session_factory(engine)
    store, lifecycle = SqlSessionStore(factory), SqlLifecycleStore(factory)
    agent_id = f"agent-{new_id()[:8]}"
    await SqlAgentStore(factory).register(
        registration(agent_id, cpu="1000", mem="1000000"), datetime.now(UTC)
    )
    steps = _Steps()
    event.listen(engine.sync_engine, "before_cursor_execute", steps.counted)

    for _ in range(sessions):
        await _start_and_end(steps, store, lifecycle, agent_id)
    await engine.dispose()
    return steps


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    name, url = await create_database()
    try:
        await upgrade(url, MIGRATIONS, "registry")
        await _round(url, 10)  # warm-up: statement caches, prepared statements
        rounds = [await _round(url, args.sessions) for _ in range(args.rounds)]
    finally:
        await drop_database(name)
    print(f"{'step':<11} {'statements':>10}  CPU ms per call (rounds)")
    for step in STEPS:
        cpu = ", ".join(f"{r.cpu[step] * 1e3 / args.sessions:.2f}" for r in rounds)
        statements = rounds[0].statements[step] / args.sessions
        print(f"{step:<11} {statements:>10.1f}  {cpu}")
    total = ", ".join(f"{sum(r.cpu.values()) * 1e3 / args.sessions:.2f}" for r in rounds)
    print(f"{'all':<11} {sum(rounds[0].statements.values()) / args.sessions:>10.1f}  {total}")


if __name__ == "__main__":
    asyncio.run(main())
