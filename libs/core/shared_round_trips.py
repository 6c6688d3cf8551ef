"""Concurrent requests to one backend share round trips (auth's request gate, the registry's
session reads).

A request that finds no round trip in flight is sent at once, from its caller's task: alone it
costs what one call costs, with no extra task or turn of the event loop. Requests arriving while
a round trip is in flight queue up, and the next round trip carries all of them (at most
`max_batch`), in arrival order. Each request therefore goes out after it arrived, so it sees at
least everything committed before it was made, as a call of its own would.

`run` answers a batch with one result per request, in order. If it raises, every request of the
batch gets that error, as each would have on its own. A caller cancelled while queued is left
out of its batch; one cancelled after its batch was sent is simply not answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


@dataclass(slots=True)
class _Queued(Generic[Req, Res]):
    request: Req
    answer: asyncio.Future[Res]


class SharedRoundTrips(Generic[Req, Res]):
    def __init__(
        self,
        run: Callable[[list[Req]], Awaitable[Sequence[Res]]],
        *,
        max_batch: int,
        name: str,
    ) -> None:
        self._run_batch = run
        self._max_batch = max(1, max_batch)
        self._name = name
        self._queue: list[_Queued[Req, Res]] = []
        self._busy = False  # a round trip is in flight (a lone request's or the flusher's)
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, request: Req) -> Res:
        queued: _Queued[Req, Res] = _Queued(request, asyncio.get_running_loop().create_future())
        if self._busy:
            self._queue.append(queued)
            return await queued.answer
        self._busy = True
        try:
            await self._run([queued])
        finally:
            self._hand_over()
        return queued.answer.result()

    def _hand_over(self) -> None:
        """After a round trip: send what queued meanwhile, or become idle."""
        if not self._queue:
            self._busy = False
        elif self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name=self._name)

    async def _flush(self) -> None:
        """Send queued requests, a batch at a time, until the queue is empty."""
        try:
            while self._queue:
                batch = [q for q in self._queue[: self._max_batch] if not q.answer.done()]
                del self._queue[: self._max_batch]
                if batch:
                    await self._run(batch)
        finally:
            self._flusher = None
            self._busy = False
            if self._queue:  # only when cancelled (shutdown): end the rest rather than hang
                _fail(self._queue, asyncio.CancelledError())
                self._queue = []

    async def _run(self, batch: list[_Queued[Req, Res]]) -> None:
        try:
            results = await self._run_batch([q.request for q in batch])
        except BaseException as exc:
            _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        if len(results) != len(batch):
            msg = f"{self._name}: {len(results)} answers for {len(batch)} requests"
            _fail(batch, RuntimeError(msg))
            return
        for queued, result in zip(batch, results, strict=True):
            if not queued.answer.done():  # its caller was cancelled meanwhile
                queued.answer.set_result(result)


def _fail(batch: Sequence[_Queued[Req, Res]], exc: BaseException) -> None:
    for queued in batch:
        if queued.answer.done():
            continue
        if isinstance(exc, asyncio.CancelledError):
            queued.answer.cancel()
        else:
            queued.answer.set_exception(exc)
