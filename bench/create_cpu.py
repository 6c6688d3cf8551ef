"""CPU time per create, per process, over the bench's submission burst (bench/scheduler.py).

The services (with their children) are read from the platform's processes, PostgreSQL's from
the backends connected to the bench's database: CPU time hardly depends on what else the
shared machine runs, unlike creates/s.
"""

from __future__ import annotations

import asyncpg

from bench.proc_cpu import cpu_seconds
from cli.platform import Platform

SERVICES = ("registry", "auth", "storage", "edge")


class CreateCpu:
    def __init__(self, platform: Platform, pg_url: str, database: str) -> None:
        self._platform = platform
        self._pg_url = pg_url
        self._database = database
        self._before: dict[str, float] = {}
        self._backends: dict[int, float] = {}

    async def start(self) -> None:
        self._before = self._services()
        self._backends = await self._backend_cpu()

    async def report(self, creates: int) -> None:
        after = self._services()
        spent = {n: after[n] - self._before.get(n, 0.0) for n in after}
        backends = await self._backend_cpu()
        # Backends that ended during the burst are not counted: the pools keep theirs open.
        spent["postgres"] = sum(t - self._backends.get(pid, 0.0) for pid, t in backends.items())
        parts = ", ".join(f"{n} {s / creates * 1e3:.2f}" for n, s in spent.items())
        total = sum(spent.values()) / creates * 1e3
        print(f"CPU ms per create: {parts}; total {total:.2f}")

    def _services(self) -> dict[str, float]:
        procs = self._platform.processes
        return {n: cpu_seconds(procs[n].pid, children=True) for n in SERVICES if n in procs}

    async def _backend_cpu(self) -> dict[int, float]:
        conn = await asyncpg.connect(self._pg_url)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                self._database,
            )
        finally:
            await conn.close()
        return {r["pid"]: cpu_seconds(r["pid"]) for r in rows}
