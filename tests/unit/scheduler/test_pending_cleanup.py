"""Pending cleanup: timed-out sessions and those whose dependency failed are cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from libs.core.errors import Unavailable
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import ClusterSnapshot, Unschedulable
from services.scheduler.service.pending_cleanup import PendingCleanup
from tests.unit.scheduler.factories import T0, session


class FakeCanceller:
    def __init__(self) -> None:
        self.calls: list[list[Unschedulable]] = []
        self.fail = False
        self.gone: set[str] = set()  # left the queue meanwhile: not cancelled

    async def cancel_pending(self, cancellations: Sequence[Unschedulable]) -> list[str]:
        if self.fail:
            raise Unavailable("registry down")
        self.calls.append(list(cancellations))
        return [c.session_id for c in cancellations if c.session_id not in self.gone]


def _setup(pending, limits: dict[str, int]):
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=(), pending=tuple(pending)))
    canceller = FakeCanceller()
    expiry = PendingCleanup(
        canceller,
        timeout_for=lambda group: timedelta(seconds=limits.get(group, 0)),
        now=lambda: T0 + timedelta(hours=3),
    )
    return cache, canceller, expiry


async def test_only_sessions_older_than_their_groups_timeout_are_cancelled():
    old = session(session_id="old", age=0)  # 3 h old
    young = session(session_id="young", age=150)  # 30 min old
    elsewhere = session(session_id="elsewhere", age=0, group="no-timeout")
    cache, canceller, expiry = _setup([old, young, elsewhere], {"default": 3600})

    assert await expiry.run(cache) == ["old"]

    (call,) = canceller.calls
    assert [(c.session_id, c.reason) for c in call] == [("old", "pending-timeout")]
    assert call[0].message == (
        "pending for 10800 s, longer than resource group 'default' allows (3600 s)"
    )
    assert {s.session_id for s in cache.pending()} == {"young", "elsewhere"}


async def test_a_failed_call_keeps_the_sessions_queued_for_the_next_cycle():
    cache, canceller, expiry = _setup([session(session_id="old", age=0)], {"default": 60})
    canceller.fail = True
    assert await expiry.run(cache) == []
    assert [s.session_id for s in cache.pending()] == ["old"]
    canceller.fail = False
    assert await expiry.run(cache) == ["old"]
    assert cache.pending() == []


async def test_a_session_that_left_the_queue_meanwhile_is_not_reported_cancelled():
    cache, canceller, expiry = _setup([session(session_id="bound", age=0)], {"default": 60})
    canceller.gone.add("bound")
    assert await expiry.run(cache) == []
    assert cache.pending() == []


async def test_a_session_whose_dependency_failed_is_cancelled_saying_which():
    doomed = replace(
        session(session_id="child", age=170),
        dependencies=("parent",),
        dependency_outcomes={"parent": "failed"},
    )
    waiting = replace(
        session(session_id="patient", age=170),
        dependencies=("other",),
        dependency_outcomes={"other": "running"},
    )
    cache, canceller, cleanup = _setup([doomed, waiting], {})
    assert await cleanup.run(cache) == ["child"]
    (call,) = canceller.calls
    assert [(c.session_id, c.reason, c.message) for c in call] == [
        ("child", "dependency-failed", "dependency parent did not finish successfully")
    ]
    assert [s.session_id for s in cache.pending()] == ["patient"]
