"""Kernels' stats: a short history per kernel in Redis (heartbeats stay off the database, rule
R-HEARTBEAT-OFF-DB), and the last report copied to the kernel row once it ended."""

from __future__ import annotations

import json
from collections.abc import Sequence

from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.tables import KernelRow
from services.registry.domain.utilization import KernelStats

# About an hour of reports at the default 5 s heartbeat: the longest useful utilization window.
KEEP = 720
TTL_SECONDS = 24 * 3600


class RedisKernelStats:
    def __init__(
        self, redis: Redis, prefix: str, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._sessions = sessions

    def key(self, kernel_id: str) -> str:
        return f"{self._prefix}kernel-stats:{kernel_id}"

    async def record(self, stats: Sequence[KernelStats]) -> None:
        if not stats:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for s in stats:
                key = self.key(s.kernel_id)
                pipe.lpush(key, json.dumps(s.as_dict()))
                pipe.ltrim(key, 0, KEEP - 1)
                pipe.expire(key, TTL_SECONDS)
            await pipe.execute()

    async def history(self, kernel_ids: Sequence[str]) -> dict[str, list[KernelStats]]:
        if not kernel_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for kernel_id in kernel_ids:
                pipe.lrange(self.key(kernel_id), 0, -1)
            found = await pipe.execute()
        return {
            kernel_id: [KernelStats.from_dict(json.loads(raw)) for raw in entries]
            for kernel_id, entries in zip(kernel_ids, found, strict=True)
            if entries
        }

    async def latest(self, kernels: Sequence[tuple[str, str]]) -> dict[str, KernelStats]:
        # The newest entry is almost always its own agent's: one LINDEX each, and the whole
        # history only for a kernel whose newest report came from elsewhere (it moved).
        if not kernels:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for kernel_id, _ in kernels:
                pipe.lindex(self.key(kernel_id), 0)
            newest = await pipe.execute()
        return await self.from_newest(kernels, newest)

    async def from_newest(
        self, kernels: Sequence[tuple[str, str]], newest: Sequence[bytes | str | None]
    ) -> dict[str, KernelStats]:
        """`latest`, given each kernel's newest entry (`LINDEX key 0`, in the same order)."""
        found: dict[str, KernelStats] = {}
        moved: list[tuple[str, str]] = []
        for (kernel_id, agent_id), raw in zip(kernels, newest, strict=True):
            if raw is None:
                continue
            stats = KernelStats.from_dict(json.loads(raw))
            if stats.agent_id == agent_id:
                found[kernel_id] = stats
            else:
                moved.append((kernel_id, agent_id))
        if moved:
            history = await self.history([k for k, _ in moved])
            for kernel_id, agent_id in moved:
                own = [r for r in history.get(kernel_id, ()) if r.agent_id == agent_id]
                if own:
                    found[kernel_id] = own[0]
        return found

    async def archive(self, kernel_id: str, agent_id: str) -> None:
        raw = await self._redis.lindex(self.key(kernel_id), 0)
        if raw is None:
            return
        last = KernelStats.from_dict(json.loads(raw))
        if last.agent_id != agent_id:
            return
        async with self._sessions.begin() as db:
            await db.execute(
                update(KernelRow)
                .where(KernelRow.id == kernel_id, KernelRow.agent_id == agent_id)
                .values(last_stat=last.as_dict())
            )
