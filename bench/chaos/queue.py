"""`--scenario queue`: a queue of batch sessions while one agent is broken and one is stopped.

agent-1 is broken once the platform is up: its kernel root directory is replaced by a file, so
every start it attempts fails (its kernel directory cannot be made) while the agent itself stays
up and heartbeats, as when a resource an agent relies on vanishes under it. agent-2 gets SIGTERM
(a graceful stop, not a crash) at a seeded moment while the queue runs, and stays down. The
other agents are healthy.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.chaos.load import Load, Submission
from bench.chaos.run import Env, Options, environment, print_outcomes
from bench.chaos.verify import Snapshot, Verdict, judge, live_ids, snapshot_retrying

BROKEN, STOPPED = "agent-1", "agent-2"


@dataclass
class QueueResult:
    submitted: int
    finished: int
    black_holed: int
    verdict: Verdict
    submissions: list[Submission]


def finished_ids(snap: Snapshot, subs: list[Submission]) -> set[str]:
    """Sessions that ran to their end: TERMINATED, every kernel exited 0."""
    codes: dict[str, list[int | None]] = {}
    for k in snap.kernels:
        codes.setdefault(k["session_id"], []).append(k["exit_code"])
    return {
        s.session_id
        for s in subs
        if s.session_id in snap.sessions
        and snap.sessions[s.session_id]["status"] == "TERMINATED"
        and codes.get(s.session_id)
        and all(c == 0 for c in codes[s.session_id])
    }


async def queue(opts: Options) -> QueueResult:
    rng = random.Random(opts.seed)
    opts = replace(opts, agents=max(opts.agents, 3))
    async with environment(opts) as env:
        await asyncio.to_thread(_break_agent, env.cluster.data_dir / "kernels" / BROKEN)
        load = Load(env.client, opts.sessions, alive=opts.alive)
        origin = time.monotonic()
        stop_at = rng.uniform(5.0, 20.0)
        stopper = asyncio.create_task(_stop_later(env, stop_at, origin))
        subs = await load.run()
        await stopper
        acked = [s for s in subs if s.session_id]
        deadline = time.monotonic() + opts.quiet_timeout
        while True:
            snap = await snapshot_retrying(env.dsn, env.user.access_key)
            if not live_ids(snap, acked) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2.0)
    done = finished_ids(snap, subs)
    return QueueResult(len(subs), len(done), len(subs) - len(done), judge(snap, subs), subs)


def _break_agent(kernel_root: Path) -> None:
    shutil.rmtree(kernel_root, ignore_errors=True)
    kernel_root.parent.mkdir(parents=True, exist_ok=True)
    kernel_root.write_text("not a directory: this agent's starts fail on purpose\n")


async def _stop_later(env: Env, after: float, origin: float) -> None:
    await asyncio.sleep(after)
    print(f"[{time.monotonic() - origin:7.1f}s] SIGTERM {STOPPED} (stays down)", flush=True)
    await env.cluster.terminate(STOPPED)
    print(f"[{time.monotonic() - origin:7.1f}s] {STOPPED} exited", flush=True)


def print_queue(result: QueueResult) -> None:
    print_outcomes(result.verdict, result.submissions)
    print(f"acknowledged: {result.verdict.acknowledged}")
    print(f"finished: {result.finished}/{result.submitted}")
    print(f"black-holed: {result.black_holed}", flush=True)
