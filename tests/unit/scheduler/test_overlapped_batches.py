"""A cycle of several batches: the next one is decided while the previous one binds."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from typing_extensions import override

from libs.core.errors import Unavailable
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import (
    BindResult,
    ClusterSnapshot,
    Placement,
    Unschedulable,
)
from services.scheduler.domain.policy import get_policy
from services.scheduler.domain.selectors import get_selector
from services.scheduler.service.schedule import ScheduleCycle
from tests.unit.scheduler.factories import FakeBinder, FakeClock, agent, session


class _WatchingBinder(FakeBinder):
    """Records how many sessions the cache had assumed when each bind began."""

    def __init__(self, cache: ClusterCache, ids: Sequence[str]) -> None:
        super().__init__()
        self.cache = cache
        self.ids = ids
        self.assumed_at_start: list[int] = []

    @override
    async def bind(
        self, placements: Sequence[Placement], unschedulable: Sequence[Unschedulable]
    ) -> list[BindResult]:
        self.assumed_at_start.append(sum(self.cache.is_assumed(i) for i in self.ids))
        return await super().bind(placements, unschedulable)


def _cycle(
    binder_for: Callable[[ClusterCache, list[str]], FakeBinder], n_sessions: int, *, cpu: int = 8
) -> tuple[ClusterCache, FakeBinder, ScheduleCycle]:
    pending = [session(session_id=f"s{i}", age=i) for i in range(n_sessions)]
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=(agent("a1", cpu=cpu),), pending=tuple(pending)))
    binder = binder_for(cache, [s.session_id for s in pending])
    fifo = get_policy("fifo")
    cycle = ScheduleCycle(
        cache=cache,
        binder=binder,
        policy_for=lambda _group: fifo,
        selector=get_selector("least-occupied"),
        clock=FakeClock(),
        max_batch=2,
        max_batches=3,
    )
    return cache, binder, cycle


async def test_the_next_batch_is_decided_before_the_previous_bind_and_never_repeats_it() -> None:
    cache, binder, cycle = _cycle(_WatchingBinder, 7)
    assert isinstance(binder, _WatchingBinder)
    report = await cycle.run_once()

    assert [[p.session_id for p in ps] for ps, _ in binder.calls] == [
        ["s0", "s1"],
        ["s2", "s3"],
        ["s4", "s5"],
    ]
    # The first bind began with the second batch already assumed next to it.
    assert binder.assumed_at_start[0] == 4
    assert report.bound == ("s0", "s1", "s2", "s3", "s4", "s5") and report.more
    assert [s.session_id for s in cache.pending()] == ["s6"]
    assert (await cycle.run_once()).bound == ("s6",)


async def test_a_conflict_in_one_batch_leaves_the_others_bound() -> None:
    cache, binder, cycle = _cycle(lambda c, ids: FakeBinder(), 4)
    binder.conflicts["s2"] = "agent-capacity-exceeded"
    report = await cycle.run_once()
    assert report.bound == ("s0", "s1", "s3") and report.conflicts == ("s2",)
    assert [s.session_id for s in cache.pending()] == ["s2"]
    assert not cache.is_assumed("s2")


async def test_a_failed_bind_forgets_every_batch_it_overlapped() -> None:
    cache, binder, cycle = _cycle(lambda c, ids: FakeBinder(), 5)
    binder.fail_with = Unavailable("registry down")
    with pytest.raises(Unavailable):
        await cycle.run_once()
    assert len(cache.pending()) == 5
    assert not any(cache.is_assumed(f"s{i}") for i in range(5))
    # Capacity is whole again: with the registry back, every session fits in one cycle.
    binder.fail_with = None
    assert len((await cycle.run_once()).bound) == 5
