"""GetSession's live stats: the newest report of each kernel from its own agent, read from the
real Redis without loading the kernel's whole history, with sessions' last use alongside."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from libs.core.ids import new_id
from libs.events import session_activity
from services.registry.adapters.kernel_stats_store import RedisKernelStats
from services.registry.adapters.live_state import RedisLiveState
from services.registry.domain.utilization import KernelStats
from tests.integration.registry.conftest import Stores

pytestmark = pytest.mark.integration


def _report(kernel_id: str, agent_id: str, minute: int, mem: int) -> KernelStats:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    return KernelStats(kernel_id=kernel_id, agent_id=agent_id, received_at=at, mem_bytes=mem)


async def test_latest_is_the_newest_report_of_the_kernels_own_agent(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    stats = RedisKernelStats(redis, key_prefix, stores.factory)
    steady, moved, silent = new_id(), new_id(), new_id()
    for minute in range(5):
        await stats.record([_report(steady, "agent-a", minute, mem=100 + minute)])
    # `moved` now runs on agent-b, but the newest report came from its old agent-a.
    await stats.record([_report(moved, "agent-b", 0, mem=7)])
    await stats.record([_report(moved, "agent-a", 1, mem=9)])

    latest = await stats.latest([(steady, "agent-a"), (moved, "agent-b"), (silent, "agent-a")])

    assert latest[steady].mem_bytes == 104
    assert latest[moved].mem_bytes == 7 and latest[moved].agent_id == "agent-b"
    assert silent not in latest
    assert await stats.latest([]) == {}


async def test_a_kernel_with_only_another_agents_reports_has_none(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    stats = RedisKernelStats(redis, key_prefix, stores.factory)
    kernel = new_id()
    await stats.record([_report(kernel, "agent-old", 0, mem=1)])

    assert await stats.latest([(kernel, "agent-new")]) == {}


async def test_live_state_reads_last_use_and_newest_stats_together(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    stats = RedisKernelStats(redis, key_prefix, stores.factory)
    live = RedisLiveState(redis, stats)
    used, unused = new_id(), new_id()
    await session_activity.touch(redis, used, at=1_700_000_000.5)
    steady, moved = new_id(), new_id()
    await stats.record([_report(steady, "agent-a", 0, mem=5)])
    await stats.record([_report(moved, "agent-b", 0, mem=7)])
    await stats.record([_report(moved, "agent-a", 1, mem=9)])

    state = await live.read([used, unused], [(steady, "agent-a"), (moved, "agent-b")])

    assert state.last_seen == {used: datetime.fromtimestamp(1_700_000_000.5, UTC)}
    assert state.stats[steady].mem_bytes == 5
    assert state.stats[moved].mem_bytes == 7  # its own agent's, not the newer stray one
    no_sessions = await live.read([], [(steady, "agent-a")])
    assert no_sessions.last_seen == {} and no_sessions.stats[steady].mem_bytes == 5
    one_moved = await live.read([], [(moved, "agent-b")])
    assert one_moved.stats[moved].mem_bytes == 7
    no_kernels = await live.read([used, unused], [])
    assert no_kernels.last_seen == state.last_seen and no_kernels.stats == {}
    assert (await live.read([], [])).stats == {}


async def test_concurrent_reads_each_get_only_their_own_sessions_and_kernels(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    """GetSession calls of different users arriving together share round trips; each
    answer holds its own session's last use and kernels, never another caller's."""
    stats = RedisKernelStats(redis, key_prefix, stores.factory)
    live = RedisLiveState(redis, stats)
    sessions = [new_id() for _ in range(12)]
    kernels = [new_id() for _ in sessions]
    for i, (session_id, kernel_id) in enumerate(zip(sessions, kernels, strict=True)):
        await session_activity.touch(redis, session_id, at=1_700_000_000 + i)
        await stats.record([_report(kernel_id, f"agent-{i % 3}", 0, mem=1000 + i)])

    states = await asyncio.gather(
        *(
            live.read([s], [(k, f"agent-{i % 3}")])
            for i, (s, k) in enumerate(zip(sessions, kernels, strict=True))
        ),
        live.read([], [(kernels[0], "agent-0"), (kernels[5], "agent-2")]),
    )

    for i, state in enumerate(states[:-1]):
        assert state.last_seen == {sessions[i]: datetime.fromtimestamp(1_700_000_000 + i, UTC)}
        assert list(state.stats) == [kernels[i]] and state.stats[kernels[i]].mem_bytes == 1000 + i
    both = states[-1]
    assert both.last_seen == {} and {k: s.mem_bytes for k, s in both.stats.items()} == {
        kernels[0]: 1000,
        kernels[5]: 1005,
    }
