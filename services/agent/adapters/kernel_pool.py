"""A pool of pre-started kernels (docs/performance.md, "Pre-started kernels").

Up to `size` kernels wait, started and answering, for a session. One event loop takes them, and
`take` never awaits, so no kernel goes to two sessions. Refilling runs in the background, one
kernel at a time, also while sessions' kernels start: under steady concurrent starts a pool that
waited for a quiet moment would stay empty. A pool kernel starts at the lowest CPU weight among
the agent's kernels (`start` sees to it), so a session's start never waits for one. A pool start
that fails stops the refilling until the next `take`, so a broken sandbox is not retried in a
loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K")


class KernelPool(Generic[K]):
    def __init__(
        self,
        size: int,
        *,
        start: Callable[[], Awaitable[K]],
        ready: Callable[[K], Awaitable[None]],
        discard: Callable[[K], Awaitable[None]],
        alive: Callable[[K], bool],
    ) -> None:
        self._size = size
        self._start, self._until_ready = start, ready
        self._discard, self._alive = discard, alive
        self._ready: deque[K] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._starting = False
        self._closed = False

    def __len__(self) -> int:
        return len(self._ready)

    def fill(self) -> None:
        """Start kernels in the background until `size` wait."""
        if self._closed:
            return
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._fill(), name="kernel-pool")

    def take(self) -> K | None:
        """A waiting kernel, now out of the pool (None: none is ready); the pool refills."""
        kernel = None
        while self._ready and kernel is None:
            candidate = self._ready.popleft()
            if self._alive(candidate):
                kernel = candidate
        self.fill()
        return kernel

    def drop(self, kernel: K) -> None:
        """A waiting kernel ended by itself: forget it and start another."""
        if kernel in self._ready:
            self._ready.remove(kernel)
            self.fill()

    async def close(self) -> None:
        """Stop refilling and stop every waiting kernel (one being started too, once it is)."""
        self._closed = True
        if self._task is not None:
            if not self._starting:  # waiting for a wake-up or an answer: nothing leaks
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        kernels, self._ready = [*self._ready], deque()
        await asyncio.gather(*(self._discard(k) for k in kernels))

    async def _fill(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            while not self._closed and len(self._ready) < self._size:
                try:
                    kernel = await self._one()
                except Exception:
                    log.warning(
                        "could not pre-start a kernel; refilling at the next take", exc_info=True
                    )
                    break
                if kernel is not None:
                    self._ready.append(kernel)  # close() stops it, if it came in meanwhile

    async def _one(self) -> K | None:
        """One more kernel, answering (None: the pool was closed meanwhile)."""
        self._starting = True  # close() must not cancel this part: the process could leak
        try:
            kernel = await self._start()
        finally:
            self._starting = False
        try:
            if self._closed:
                raise asyncio.CancelledError
            await self._until_ready(kernel)  # close() cancels this wait
        except BaseException:
            await self._discard(kernel)
            if self._closed:
                return None
            raise
        return kernel
