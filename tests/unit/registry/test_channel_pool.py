"""Per-agent channels are evicted: beyond the bound, when idle, when the agent is gone."""

from __future__ import annotations

import grpc

from services.registry.adapters.channel_pool import ChannelPool


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pool(clock: Clock, *, max_channels: int = 2, idle_ttl: float = 60.0) -> ChannelPool:
    return ChannelPool(
        grpc.aio.insecure_channel, max_channels=max_channels, idle_ttl=idle_ttl, clock=clock
    )


async def test_the_least_recently_used_channel_goes_beyond_the_bound() -> None:
    clock = Clock()
    channels = pool(clock)
    seen = {}
    for address in ("a:1", "b:1", "a:1", "c:1"):
        clock.now += 1
        async with channels.use(address) as ch:
            seen[address] = ch
    assert len(channels) == 2
    async with channels.use("b:1") as again:
        assert again is not seen["b:1"]  # b was evicted and is opened anew
    await channels.close()


async def test_an_idle_channel_is_closed_but_one_in_use_is_not() -> None:
    clock = Clock()
    channels = pool(clock, max_channels=10)
    async with channels.use("busy:1"):
        async with channels.use("idle:1"):
            pass
        clock.now += 120
        async with channels.use("other:1"):
            pass
        assert len(channels) == 2  # "idle" went; "busy" stays while its call runs
    await channels.close()


async def test_a_lost_agent_channel_is_forgotten() -> None:
    channels = pool(Clock())
    async with channels.use("gone:1"):
        pass
    channels.forget("gone:1")
    assert len(channels) == 0
    await channels.close()
