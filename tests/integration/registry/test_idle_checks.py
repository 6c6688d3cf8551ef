"""The idle checkers against the real registry store and the real activity record in Redis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from libs.core.ids import new_id
from libs.events import session_activity
from services.registry.adapters.activity import RedisActivity, RedisCheckerLease
from services.registry.domain.idle import IDLE_TIMEOUT, IdleGrace, Judged, running_since
from services.registry.domain.model import MAX_LIFETIME_EXCEEDED, Session, SessionType, Status
from services.registry.service.idle_checks import IdleChecks, LifetimeChecker, NetworkIdleChecker
from services.registry.service.ports import NewSession
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration
from tests.integration.registry.start_helpers import FakeAgents

pytestmark = pytest.mark.integration


async def _running(stores: Stores, new: NewSession) -> Session:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="4"), datetime.now(UTC))
    session, _ = await stores.sessions.add(new)
    kernel_id = session.kernels[0].kernel_id
    assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
    await stores.lifecycle.claim_scheduled(100)
    await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    return await stores.sessions.get(session.session_id)


def _idle(seconds: int, **kw: object) -> NewSession:
    return replace(new_session(), idle_timeout_seconds=seconds, **kw)  # type: ignore[arg-type]


def _started(session: Session) -> datetime:
    started = running_since(session)
    assert started is not None
    return started


async def _status(stores: Stores, session: Session) -> tuple[Status, str]:
    got = await stores.sessions.get(session.session_id)
    return got.status, got.status_info


async def test_an_unused_session_is_reclaimed_and_a_used_one_is_not(
    stores: Stores, redis: Redis
) -> None:
    unused = await _running(stores, _idle(60))
    used = await _running(stores, _idle(60))
    start = max(_started(unused), _started(used))
    await session_activity.touch(
        redis, used.session_id, at=(start + timedelta(seconds=50)).timestamp()
    )
    agents = FakeAgents()
    checks = IdleChecks(
        stores.lifecycle, agents, [NetworkIdleChecker(RedisActivity(redis), IdleGrace())]
    )

    assert await checks.check(now=start + timedelta(seconds=59)) == {}
    ended = await checks.check(now=start + timedelta(seconds=61))

    assert ended == {unused.session_id: IDLE_TIMEOUT}
    assert await _status(stores, unused) == (Status.TERMINATING, IDLE_TIMEOUT)
    assert (unused.kernels[0].kernel_id, IDLE_TIMEOUT) in agents.destroyed
    assert (await _status(stores, used))[0] is Status.RUNNING
    # Its idle timeout counts from its last use.
    assert await checks.check(now=start + timedelta(seconds=111)) == {used.session_id: IDLE_TIMEOUT}


async def test_batch_sessions_and_sessions_without_a_timeout_are_never_idle(
    stores: Stores, redis: Redis
) -> None:
    batch = await _running(stores, _idle(60, session_type=SessionType.BATCH))
    unlimited = await _running(stores, _idle(0))
    checks = IdleChecks(
        stores.lifecycle, FakeAgents(), [NetworkIdleChecker(RedisActivity(redis), IdleGrace())]
    )
    ended = await checks.check(now=datetime.now(UTC) + timedelta(days=30))
    assert batch.session_id not in ended and unlimited.session_id not in ended
    assert (await _status(stores, batch))[0] is Status.RUNNING


async def test_grace_periods_hold_the_idle_timeout_back(stores: Stores, redis: Redis) -> None:
    # A session's initial grace: the timeout counts from its start plus 120 s.
    fresh = await _running(stores, _idle(60))
    # A new user's grace: the timeout counts from the user's creation plus 300 s.
    newcomer = await _running(stores, _idle(60, owner_created_at=datetime.now(UTC)))
    grace = IdleGrace(initial=timedelta(seconds=120), new_user=timedelta(seconds=300))
    checks = IdleChecks(
        stores.lifecycle, FakeAgents(), [NetworkIdleChecker(RedisActivity(redis), grace)]
    )
    start = max(_started(fresh), _started(newcomer))

    assert await checks.check(now=start + timedelta(seconds=170)) == {}
    assert await checks.check(now=start + timedelta(seconds=190)) == {
        fresh.session_id: IDLE_TIMEOUT
    }
    assert await checks.check(now=start + timedelta(seconds=370)) == {
        newcomer.session_id: IDLE_TIMEOUT
    }


class Broken:
    name = "broken"
    reason = "broken"

    async def judged(self) -> Judged:
        return Judged(expiring=True, idle_timeout=True)

    async def due(self, sessions: Sequence[Session], now: datetime) -> set[str]:
        raise RuntimeError("metrics store unreachable")


async def test_a_failing_checker_does_not_stop_the_others_and_a_session_ends_once(
    stores: Stores, redis: Redis
) -> None:
    both = await _running(stores, replace(_idle(60), max_lifetime_seconds=30))
    agents = FakeAgents()
    checks = IdleChecks(
        stores.lifecycle,
        agents,
        [Broken(), LifetimeChecker(), NetworkIdleChecker(RedisActivity(redis), IdleGrace())],
    )
    now = _started(both) + timedelta(seconds=61)  # past its lifetime and its idle timeout

    ended = await checks.check(now=now)
    again = await checks.check(now=now)

    assert ended[both.session_id] == MAX_LIFETIME_EXCEEDED  # the first checker's reason wins
    assert both.session_id not in again
    kernel = both.kernels[0].kernel_id
    assert [d for d in agents.destroyed if d[0] == kernel] == [(kernel, MAX_LIFETIME_EXCEEDED)]
    assert await _status(stores, both) == (Status.TERMINATING, MAX_LIFETIME_EXCEEDED)


async def test_one_replica_at_a_time_holds_the_checker_lease(redis: Redis, key_prefix: str) -> None:
    key = f"{key_prefix}idle-checker:leader"
    first = RedisCheckerLease(redis, key, "registry-a", ttl=5)
    second = RedisCheckerLease(redis, key, "registry-b", ttl=5)
    assert await first.hold()
    assert not await second.hold()
    assert await first.hold()  # renewed
    await redis.delete(key)  # the holder died and its lease ran out
    assert await second.hold()
    assert not await first.hold()


async def test_a_round_reads_only_the_running_sessions_some_checker_may_end(
    stores: Stores,
) -> None:
    watched = await _running(stores, _idle(60))
    batch = await _running(stores, _idle(60, session_type=SessionType.BATCH))
    mortal = await _running(stores, replace(new_session(), max_lifetime_seconds=600))
    plain = await _running(stores, new_session())
    mine = {s.session_id for s in (watched, batch, mortal, plain)}

    async def read(judged: Judged) -> set[str]:
        return mine & {s.session_id for s in await stores.lifecycle.running(judged)}

    assert await read(Judged()) == set()
    assert await read(Judged(idle_timeout=True)) == {watched.session_id}
    assert await read(Judged(expiring=True)) == {mortal.session_id}
    assert await read(Judged(idle_timeout=True) | Judged(expiring=True)) == {
        watched.session_id,
        mortal.session_id,
    }
    # A utilization policy judges every session of its group, whatever else it has.
    assert await read(Judged(groups=frozenset({plain.resource_group}))) == mine
    read_back = await stores.lifecycle.running(Judged(idle_timeout=True))
    assert [len(s.kernels) for s in read_back if s.session_id == watched.session_id] == [1]
