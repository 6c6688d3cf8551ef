from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from services.scheduler.adapters.redis_lease import RedisLease
from services.scheduler.service.leadership import LeaderElector
from tests.unit.scheduler.factories import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def lease_key(redis, key_prefix):
    key = f"{key_prefix}scheduler:leader"
    yield key
    await redis.delete(key, f"{key}:epoch")


async def test_the_lease_has_one_holder_and_is_handed_over_on_release(redis, lease_key):
    a = RedisLease(redis, key=lease_key, owner="a", ttl=5.0)
    b = RedisLease(redis, key=lease_key, owner="b", ttl=5.0)

    assert await a.acquire()
    assert not await b.acquire()
    assert await a.renew()
    assert not await b.renew()
    await b.release()  # not b's to release
    assert await a.holder() == "a"

    await a.release()
    assert await b.acquire()
    assert not await a.renew()
    assert await a.holder() == "b"
    assert b.epoch > a.epoch > 0


async def test_each_tenure_has_a_greater_epoch_even_after_redis_lost_the_counter(redis, lease_key):
    a = RedisLease(redis, key=lease_key, owner="a", ttl=5.0)
    assert await a.acquire()
    first = a.epoch
    assert await a.acquire()  # still ours: the same tenure
    assert a.epoch == first
    await a.release()
    await redis.delete(f"{lease_key}:epoch")  # as after a Redis restart without persistence
    assert await a.acquire()
    assert a.epoch > first


async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(redis, lease_key):
    a = RedisLease(redis, key=lease_key, owner="a", ttl=0.3)
    b = RedisLease(redis, key=lease_key, owner="b", ttl=5.0)
    assert await a.acquire()

    async with asyncio.timeout(5):
        while True:
            if await b.acquire():
                break
            await asyncio.sleep(0.05)

    assert not await a.renew()
    await a.release()
    assert await b.holder() == "b"


async def _stop(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_standby_elector_takes_over_when_the_leader_stops(redis, lease_key):
    a = LeaderElector(
        RedisLease(redis, key=lease_key, owner="a", ttl=1.0), ttl=1.0, clock=time.monotonic
    )
    b = LeaderElector(
        RedisLease(redis, key=lease_key, owner="b", ttl=1.0), ttl=1.0, clock=time.monotonic
    )
    task_a = asyncio.create_task(a.run())
    await wait_until(lambda: a.is_leader)
    task_b = asyncio.create_task(b.run())
    try:
        await b.step()
        assert not b.is_leader

        await _stop(task_a)
        await a.resign()
        await wait_until(lambda: b.is_leader)
        assert not a.is_leader
    finally:
        await _stop(task_a)
        await _stop(task_b)


async def test_a_crashed_leader_is_replaced_after_expiry_and_then_steps_down(redis, lease_key):
    a = LeaderElector(
        RedisLease(redis, key=lease_key, owner="a", ttl=0.5), ttl=0.5, clock=time.monotonic
    )
    b = LeaderElector(
        RedisLease(redis, key=lease_key, owner="b", ttl=0.5), ttl=0.5, clock=time.monotonic
    )
    await a.step()
    assert a.is_leader

    # a stops renewing without releasing (a crash or a long pause); b polls and takes over.
    task_b = asyncio.create_task(b.run())
    try:
        await wait_until(lambda: b.is_leader)
        await a.step()  # a's renewal fails now that b holds the lease
        assert not a.is_leader
    finally:
        await _stop(task_b)
