"""Per-agent gRPC channels with real eviction.

Channels are kept (with keepalive, rule R-KEEPALIVE) while used, and closed when the pool holds
more than `max_channels` or a channel has been idle for `idle_ttl` seconds (an agent that left
for good). A channel with a call in flight is never closed under it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    channel: grpc.aio.Channel
    last_used: float
    in_flight: int = 0


class ChannelPool:
    def __init__(
        self,
        make: Callable[[str], grpc.aio.Channel],
        *,
        max_channels: int = 512,
        idle_ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make = make
        self._max = max_channels
        self._ttl = idle_ttl
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._entries)

    @asynccontextmanager
    async def use(self, address: str) -> AsyncIterator[grpc.aio.Channel]:
        """The channel to `address`, held open for the duration of the block."""
        now = self._clock()
        entry = self._entries.get(address)
        if entry is None:
            entry = self._entries[address] = _Entry(self._make(address), now)
        self._entries.move_to_end(address)
        entry.last_used = now
        entry.in_flight += 1
        try:
            yield entry.channel
        finally:
            entry.in_flight -= 1
            entry.last_used = self._clock()
            self._evict()

    def forget(self, address: str) -> None:
        """Close the channel to an agent that is gone (unless a call still uses it)."""
        entry = self._entries.get(address)
        if entry is not None and entry.in_flight == 0:
            self._close(address)

    def _evict(self) -> None:
        now = self._clock()
        for address, entry in list(self._entries.items()):  # oldest use first
            over = len(self._entries) > self._max
            idle = now - entry.last_used >= self._ttl
            if not (over or idle):
                break
            if entry.in_flight == 0:
                self._close(address)

    def _close(self, address: str) -> None:
        entry = self._entries.pop(address)
        task = asyncio.get_running_loop().create_task(entry.channel.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for address in list(self._entries):
            self._close(address)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
