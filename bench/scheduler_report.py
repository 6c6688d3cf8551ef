"""The figures bench/scheduler.py prints as its last lines (see its docstring)."""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import asyncpg
from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2

from libs.core.slots import ResourceSlots

_P99 = re.compile(r"p99 ([0-9.]+) ms")
_OCCUPYING = ("SCHEDULED", "PULLING", "PREPARING", "RUNNING", "TERMINATING")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


class Report:
    def __init__(
        self, *, pg_url: str, redis_url: str, prefix: str, logs: list[Path], failover: bool
    ) -> None:
        self.pg_url = pg_url
        self.redis_url = redis_url
        self.prefix = prefix
        self.logs = logs  # the schedulers' logs
        self.failover = failover

    async def report(
        self, total: int, killed_at: datetime | None, *, registry_cpu: float | None = None
    ) -> None:
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
        if registry_cpu is not None and reached:
            # From the schedulers' start to the end of the wait: binds, starts and events.
            print(
                f"  (registry CPU {registry_cpu:.1f} s, {registry_cpu * 1000 / reached:.1f} ms"
                f" per session that reached RUNNING)",
                file=sys.stderr,
            )
        print(f"reached RUNNING: {reached}/{total}")
        if not self.failover:
            return
        after = [t for t in scheduled if killed_at is not None and t > killed_at]
        failover = (after[0] - killed_at).total_seconds() if after and killed_at else None
        print(f"failover s: {failover:.2f}" if failover is not None else "failover s: n/a")
        print(f"double-bound: {await self._double_bound()}")
        print(f"leaked slots: {_leaked(agents, kernels)}")

    def _decision_p99(self) -> float:
        worst = 0.0
        for log in self.logs:
            found = _P99.findall(log.read_text(errors="replace")) if log.exists() else []
            if found:
                worst = max(worst, float(found[-1]))
        return worst

    async def _double_bound(self) -> int:
        redis = Redis.from_url(self.redis_url)
        agents_of: dict[str, set[str]] = defaultdict(set)
        try:
            start = "-"
            while True:
                batch = await redis.xrange(f"{self.prefix}events:kernel", min=start, count=5000)
                if not batch:
                    break
                for _, fields in batch:
                    data = (fields or {}).get(b"data", b"")
                    raw = data if isinstance(data, bytes) else data.encode()
                    life = events_pb2.Event.FromString(raw).kernel_lifecycle
                    if life.phase == events_pb2.KernelLifecycle.PHASE_STARTED:
                        agents_of[life.kernel_id].add(life.agent_id)
                last = batch[-1][0]
                start = "(" + (last.decode() if isinstance(last, bytes) else str(last))
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
