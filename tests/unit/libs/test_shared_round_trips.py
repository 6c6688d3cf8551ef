"""Concurrent requests share round trips (libs/core/shared_round_trips.py)."""

from __future__ import annotations

import asyncio

import pytest

from libs.core.shared_round_trips import SharedRoundTrips


class Backend:
    """Answers each request with its double; the first batch waits until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail_with: BaseException | None = None
        self.answers: int | None = None  # answer this many, whatever the batch

    async def run(self, batch: list[int]) -> list[int]:
        self.batches.append(list(batch))
        if len(self.batches) == 1:
            await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        answers = [2 * n for n in batch]
        return answers if self.answers is None else answers[: self.answers]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_requests_arriving_during_a_round_trip_share_the_next_one() -> None:
    backend = Backend()
    trips = SharedRoundTrips(backend.run, max_batch=10, name="t")

    first = asyncio.create_task(trips.submit(1))
    await _settle()
    later = [asyncio.create_task(trips.submit(n)) for n in (2, 3, 4)]
    await _settle()
    backend.release.set()

    assert await first == 2
    assert [await t for t in later] == [4, 6, 8]
    assert backend.batches == [[1], [2, 3, 4]]


async def test_a_batch_is_never_larger_than_max_batch() -> None:
    backend = Backend()
    trips = SharedRoundTrips(backend.run, max_batch=2, name="t")

    first = asyncio.create_task(trips.submit(0))
    await _settle()
    later = [asyncio.create_task(trips.submit(n)) for n in range(1, 6)]
    await _settle()
    backend.release.set()

    assert await first == 0 and [await t for t in later] == [2, 4, 6, 8, 10]
    assert backend.batches == [[0], [1, 2], [3, 4], [5]]


async def test_a_failed_round_trip_fails_every_request_of_its_batch_only() -> None:
    backend = Backend()
    trips = SharedRoundTrips(backend.run, max_batch=10, name="t")
    first = asyncio.create_task(trips.submit(1))
    await _settle()
    later = [asyncio.create_task(trips.submit(n)) for n in (2, 3)]
    await _settle()
    backend.fail_with = ConnectionError("backend down")
    backend.release.set()

    for task in (first, *later):
        with pytest.raises(ConnectionError, match="backend down"):
            await task

    backend.fail_with = None
    assert await trips.submit(7) == 14  # the next request goes out on its own


async def test_a_wrong_number_of_answers_is_an_error_not_a_mix_up() -> None:
    backend = Backend()
    backend.release.set()
    backend.answers = 0
    trips = SharedRoundTrips(backend.run, max_batch=10, name="reads")

    with pytest.raises(RuntimeError, match="reads: 0 answers for 1 requests"):
        await trips.submit(1)


async def test_a_request_cancelled_while_queued_is_left_out_of_its_batch() -> None:
    backend = Backend()
    trips = SharedRoundTrips(backend.run, max_batch=10, name="t")
    first = asyncio.create_task(trips.submit(1))
    await _settle()
    dropped = asyncio.create_task(trips.submit(2))
    kept = asyncio.create_task(trips.submit(3))
    await _settle()
    dropped.cancel()
    await _settle()
    backend.release.set()

    assert await first == 2 and await kept == 6
    assert dropped.cancelled()
    assert backend.batches == [[1], [3]]
