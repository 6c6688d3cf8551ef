"""The TTL cache in front of the keypair store."""

from __future__ import annotations

import asyncio

import pytest

from services.auth.adapters.keypair_cache import CachedKeypairStore
from services.auth.domain.model import KeypairOwner
from tests.unit.auth.factories import ACCESS_KEY, FakeKeypairStore, owner


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SlowStore:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def find(self, access_key: str) -> KeypairOwner | None:
        self.calls += 1
        await self.release.wait()
        return owner()


class FailingStore:
    def __init__(self) -> None:
        self.calls = 0

    async def find(self, access_key: str) -> KeypairOwner | None:
        self.calls += 1
        raise ConnectionError("database down")


async def test_hits_within_ttl_do_not_reach_the_store():
    inner, clock = FakeKeypairStore(owner()), Ticker()
    cache = CachedKeypairStore(inner, ttl=5.0, monotonic=clock)
    assert await cache.find(ACCESS_KEY) == owner()
    clock.now += 4.9
    assert await cache.find(ACCESS_KEY) == owner()
    assert inner.lookups == [ACCESS_KEY]


async def test_entries_expire_after_ttl():
    inner, clock = FakeKeypairStore(owner()), Ticker()
    cache = CachedKeypairStore(inner, ttl=5.0, monotonic=clock)
    await cache.find(ACCESS_KEY)
    inner.owners.clear()  # the key was deleted
    clock.now += 5.0
    assert await cache.find(ACCESS_KEY) is None
    assert len(inner.lookups) == 2


async def test_unknown_keys_are_cached_too():
    inner = FakeKeypairStore()
    cache = CachedKeypairStore(inner, ttl=5.0, monotonic=Ticker())
    assert await cache.find("AKNOPE") is None
    assert await cache.find("AKNOPE") is None
    assert inner.lookups == ["AKNOPE"]


async def test_concurrent_misses_share_one_lookup():
    inner = SlowStore()
    cache = CachedKeypairStore(inner, ttl=5.0)
    waiters = [asyncio.create_task(cache.find(ACCESS_KEY)) for _ in range(10)]
    await asyncio.sleep(0)
    inner.release.set()
    results = await asyncio.gather(*waiters)
    assert inner.calls == 1
    assert all(r == owner() for r in results)


async def test_a_cancelled_waiter_does_not_cancel_the_shared_lookup():
    inner = SlowStore()
    cache = CachedKeypairStore(inner, ttl=5.0)
    first = asyncio.create_task(cache.find(ACCESS_KEY))
    second = asyncio.create_task(cache.find(ACCESS_KEY))
    await asyncio.sleep(0)
    first.cancel()
    inner.release.set()
    assert await second == owner()
    assert inner.calls == 1


async def test_failures_are_not_cached():
    inner = FailingStore()
    cache = CachedKeypairStore(inner, ttl=5.0)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await cache.find(ACCESS_KEY)
    assert inner.calls == 2


async def test_size_is_bounded():
    keys = ("AK1", "AK2", "AK3", "AK4")
    inner, clock = FakeKeypairStore(*(owner(access_key=k) for k in keys)), Ticker()
    cache = CachedKeypairStore(inner, ttl=5.0, max_entries=3, monotonic=clock)
    for key in keys:
        await cache.find(key)
    assert len(cache) == 3
    await cache.find("AK1")  # the least recently used was evicted
    assert inner.lookups.count("AK1") == 2
    await cache.find("AK4")
    assert inner.lookups.count("AK4") == 1


async def test_eviction_drops_the_least_recently_used_not_the_oldest_inserted():
    keys = ("AK1", "AK2", "AK3", "AK4")
    inner, clock = FakeKeypairStore(*(owner(access_key=k) for k in keys)), Ticker()
    cache = CachedKeypairStore(inner, ttl=5.0, max_entries=3, monotonic=clock)
    for key in keys[:3]:
        await cache.find(key)
    await cache.find("AK1")  # a hit makes AK1 the most recently used
    await cache.find("AK4")  # full: AK2 goes, not AK1
    await cache.find("AK1")
    await cache.find("AK2")
    assert inner.lookups.count("AK1") == 1
    assert inner.lookups.count("AK2") == 2


async def test_a_flood_of_unknown_keys_does_not_push_out_real_keypairs():
    inner, clock = FakeKeypairStore(owner()), Ticker()
    cache = CachedKeypairStore(
        inner, ttl=5.0, max_entries=10, max_negative_entries=50, monotonic=clock
    )
    await cache.find(ACCESS_KEY)
    for i in range(1_000):
        assert await cache.find(f"AKBOGUS{i:05d}") is None
    assert await cache.find(ACCESS_KEY) == owner()
    assert inner.lookups.count(ACCESS_KEY) == 1
    assert len(cache) == 1 + 50


async def test_unknown_keys_are_remembered_only_briefly():
    inner, clock = FakeKeypairStore(), Ticker()
    cache = CachedKeypairStore(inner, ttl=5.0, negative_ttl=1.0, monotonic=clock)
    assert await cache.find("AKNEW") is None
    inner.owners["AKNEW"] = owner(access_key="AKNEW")  # the keypair is created just after
    clock.now += 0.5
    assert await cache.find("AKNEW") is None
    clock.now += 0.6
    assert await cache.find("AKNEW") == owner(access_key="AKNEW")
    assert inner.lookups == ["AKNEW", "AKNEW"]


async def test_invalidate_forgets_a_key():
    inner = FakeKeypairStore(owner())
    cache = CachedKeypairStore(inner, ttl=5.0, monotonic=Ticker())
    await cache.find(ACCESS_KEY)
    cache.invalidate(ACCESS_KEY)
    await cache.find(ACCESS_KEY)
    assert len(inner.lookups) == 2
