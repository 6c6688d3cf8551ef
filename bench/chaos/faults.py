"""The faults, one at a time at seeded random moments: kill -9 and restart each process, stop
PostgreSQL for 10 s, restart Redis (which keeps nothing on disk).

A scheduler fault always kills the replica holding the leader lease at that moment (so the
second one hits the replica that took over); its failover time is measured from the SIGKILL
to the moment the lease key in Redis names another replica (polled every 50 ms).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bench.chaos.cluster import Cluster
from bench.chaos.infra import PrivatePostgres, PrivateRedis

POSTGRES_OUTAGE_S = 10.0


@dataclass
class FaultLog:
    lines: list[str] = field(default_factory=list)
    failovers: list[float] = field(default_factory=list)
    last_end: float = 0.0  # time.monotonic() when the last fault was over
    origin: float = field(default_factory=time.monotonic)

    def note(self, text: str) -> None:
        line = f"[{time.monotonic() - self.origin:7.1f}s] {text}"
        self.lines.append(line)
        print(line, flush=True)


@dataclass
class Faults:
    cluster: Cluster
    postgres: PrivatePostgres
    redis: PrivateRedis
    rng: random.Random
    pause: tuple[float, float] = (3.0, 12.0)  # seconds between two faults
    log: FaultLog = field(default_factory=FaultLog)
    on_fault: Callable[[], None] = lambda: None  # called as each fault begins

    def plan(self, only: list[str] | None = None) -> list[str]:
        targets = list(only or [*self.cluster.instances, "postgres", "redis"])
        self.rng.shuffle(targets)
        return targets

    async def run(self, targets: list[str]) -> FaultLog:
        for target in targets:
            await asyncio.sleep(self.rng.uniform(*self.pause))
            await self.inflict(target)
            self.log.last_end = time.monotonic()
        return self.log

    async def inflict(self, target: str) -> None:
        if target == "postgres":
            self.log.note(f"stop PostgreSQL for {POSTGRES_OUTAGE_S:.0f} s")
            await self.postgres.stop()
            self.on_fault()
            await asyncio.sleep(POSTGRES_OUTAGE_S)
            await self.postgres.start()
            self.log.note("PostgreSQL is back")
            return
        if target == "redis":
            self.log.note("restart Redis (all keys and streams lost)")
            await self.redis.stop()
            self.on_fault()
            await self.redis.start()
            return
        leader = False
        if self.cluster.instances[target].service == "scheduler":
            holder = await self._leader()
            leader = holder in self.cluster.instances
            target = holder if holder in self.cluster.instances else target
        self.log.note(f"kill -9 {target}" + (" (the scheduling leader)" if leader else ""))
        killed_at = time.monotonic()
        self.cluster.kill(target)
        self.on_fault()
        if leader:
            took = await self._failover(target, killed_at)
            self.log.note(f"scheduler lease moved off {target} after {took:.2f} s")
            self.log.failovers.append(took)
        else:
            await asyncio.sleep(self.rng.uniform(1.0, 3.0))
        await self._restart(target)

    async def _restart(self, target: str) -> None:
        for attempt in range(1, 6):
            try:
                await self.cluster.start(target)
            except (RuntimeError, TimeoutError) as exc:
                self.log.note(f"restart of {target} failed (attempt {attempt}): {exc!s:.300}")
                self.cluster.kill(target)
                await asyncio.sleep(2.0)
                continue
            self.log.note(f"{target} is back")
            return
        self.log.note(f"gave up restarting {target}")

    def _lease_key(self) -> str:
        return f"{self.cluster.redis_prefix}scheduler:leader"

    async def _leader(self) -> str | None:
        async with Redis.from_url(self.redis.url) as redis:
            try:
                owner = await redis.get(self._lease_key())
            except RedisError:
                return None
        if isinstance(owner, bytes):
            return owner.decode()
        return owner or None

    async def _failover(self, killed: str, since: float, limit: float = 60.0) -> float:
        """Seconds until another replica holds the lease (`limit` if none does by then)."""
        while time.monotonic() - since < limit:
            owner = await self._leader()
            if owner and owner != killed:
                return time.monotonic() - since
            await asyncio.sleep(0.05)
        return limit
