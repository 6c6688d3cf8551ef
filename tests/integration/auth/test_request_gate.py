"""The Redis request gate (replay cache + sliding-window rate limit) against a real Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from cli.infra import free_port
from services.auth.adapters.request_gate import RedisRequestGate

pytestmark = pytest.mark.integration

# The start of a 60-second window (epoch multiples of the window).
T0 = datetime.fromtimestamp(1_800_000_000 - 1_800_000_000 % 60, UTC)
KEY = "AKGATETEST0000000000"


async def admit(gate, signature, *, now=T0, limit=3, ttl=60.0, key=KEY):
    return await gate.admit(
        access_key=key, signature=signature, replay_ttl=ttl, limit=limit, window=60.0, now=now
    )


async def test_counts_down_and_refuses_the_request_over_the_limit(redis, key_prefix):
    gate = RedisRequestGate(redis, prefix=key_prefix)
    outcomes = [await admit(gate, f"sig-{i}") for i in range(4)]
    assert [o.allowed for o in outcomes] == [True, True, True, False]
    assert [o.remaining for o in outcomes] == [2, 1, 0, 0]
    assert not any(o.replayed for o in outcomes)


async def test_keys_are_counted_separately(redis, key_prefix):
    gate = RedisRequestGate(redis, prefix=key_prefix)
    assert (await admit(gate, "a", limit=1)).allowed
    assert not (await admit(gate, "b", limit=1)).allowed
    assert (await admit(gate, "c", limit=1, key="AKOTHER0000000000000")).allowed


async def test_a_replayed_signature_is_refused_and_not_counted(redis, key_prefix):
    gate = RedisRequestGate(redis, prefix=key_prefix)
    assert (await admit(gate, "same")).allowed
    replay = await admit(gate, "same")
    assert replay.replayed and not replay.allowed
    assert (await admit(gate, "next")).remaining == 1  # the replay spent nothing


async def test_replay_entry_expires_with_the_signature(redis, key_prefix):
    gate = RedisRequestGate(redis, prefix=key_prefix)
    await admit(gate, "short", ttl=30.0)
    ttl_ms = await redis.pttl(f"{key_prefix}auth:replay:{KEY}:short")
    assert 29_000 < ttl_ms <= 30_000


async def test_window_slides_rather_than_resetting(redis, key_prefix):
    gate = RedisRequestGate(redis, prefix=key_prefix)
    for i in range(4):
        await admit(gate, f"w1-{i}", limit=4)
    # A quarter into the next window, 3/4 of the previous window's 4 requests still count.
    quarter = T0 + timedelta(seconds=75)
    assert (await admit(gate, "w2-0", now=quarter, limit=4)).allowed
    assert not (await admit(gate, "w2-1", now=quarter, limit=4)).allowed
    # Two windows later nothing of the first remains.
    later = T0 + timedelta(seconds=125)
    assert (await admit(gate, "w3-0", now=later, limit=4)).remaining == 3


async def test_concurrent_uses_of_one_signature_share_a_batch_and_one_wins(redis, key_prefix):
    gate = RedisRequestGate(redis, prefix=key_prefix)
    outcomes = await asyncio.gather(*(admit(gate, "twice") for _ in range(10)))
    assert [o.allowed for o in outcomes].count(True) == 1
    assert [o.replayed for o in outcomes].count(True) == 9


async def test_concurrent_requests_over_the_limit_are_refused_in_order(redis, key_prefix):
    gate = RedisRequestGate(redis, prefix=key_prefix, max_batch=4)  # several batches
    outcomes = await asyncio.gather(*(admit(gate, f"c-{i}", limit=5) for i in range(9)))
    assert [o.allowed for o in outcomes] == [True] * 5 + [False] * 4
    assert [o.remaining for o in outcomes[:5]] == [4, 3, 2, 1, 0]


async def test_an_unreachable_redis_fails_every_waiting_request(key_prefix):
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    gate = RedisRequestGate(unreachable, prefix=key_prefix)
    try:
        results = await asyncio.gather(
            *(admit(gate, f"down-{i}") for i in range(3)), return_exceptions=True
        )
    finally:
        await unreachable.aclose()
    assert all(isinstance(r, RedisError) for r in results)


async def test_a_request_cancelled_before_it_is_sent_is_not_counted(redis, key_prefix):
    gate = RedisRequestGate(redis, prefix=key_prefix)
    first = asyncio.ensure_future(admit(gate, "first", limit=2))
    queued = asyncio.ensure_future(admit(gate, "queued", limit=2))
    await asyncio.sleep(0)  # both reach the gate; "queued" waits behind the first round trip
    queued.cancel()
    assert (await first).remaining == 1
    assert (await admit(gate, "next", limit=2)).allowed  # "queued" spent nothing
