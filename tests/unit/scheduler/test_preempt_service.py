"""Preemption in the cycle: who asks the registry to end whom, and when not to ask again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import (
    NO_AVAILABLE_INSTANCES,
    ActiveSession,
    ClusterSnapshot,
    Unschedulable,
)
from services.scheduler.service.preempt import Preemption
from tests.unit.scheduler.factories import FakeClock, FakePreempter, agent, session, slots

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _running(sid: str, *, priority: int = 0, preemptible: bool = True) -> ActiveSession:
    return ActiveSession(
        session_id=sid,
        access_key="AK",
        project_id="p1",
        domain_name="default",
        slots=slots(4, 1),
        priority=priority,
        preemptible=preemptible,
        since=NOW - timedelta(minutes=5),
        slots_by_agent={"a1": slots(4, 1)},
    )


def _setup(pending, active):
    cache = ClusterCache()
    node = agent("a1", cpu=8, mem_gib=32, used_cpu=8, used_mem_gib=2)
    cache.replace(ClusterSnapshot(agents=(node,), pending=tuple(pending), active=tuple(active)))
    preempter, clock = FakePreempter(), FakeClock()
    return cache, preempter, clock, Preemption(preempter, clock=clock, now=lambda: NOW, hold=30)


def _short(*sessions) -> list[Unschedulable]:
    return [
        Unschedulable(session_id=s.session_id, reason=NO_AVAILABLE_INSTANCES, message="full")
        for s in sessions
    ]


async def test_an_urgent_session_without_room_ends_a_preemptible_lower_priority_one():
    urgent = replace(session(session_id="urgent", cpu=4), priority=10)
    cache, preempter, _, preemption = _setup([urgent], [_running("victim")])
    assert await preemption.run(cache, _short(urgent)) == ["victim"]
    assert preempter.calls == [[("victim", "urgent")]]


async def test_no_preemption_for_default_priority_or_other_failures():
    plain = session(session_id="plain", cpu=4)
    urgent = replace(session(session_id="urgent", cpu=4), priority=10)
    cache, preempter, _, preemption = _setup([plain, urgent], [_running("victim")])
    limited = Unschedulable(session_id="urgent", reason="concurrency-limit", message="")
    assert await preemption.run(cache, [*_short(plain), limited]) == []
    assert preempter.calls == []


async def test_a_victim_is_not_asked_twice_while_it_winds_down_and_a_failure_is_retried():
    urgent = replace(session(session_id="urgent", cpu=4), priority=10)
    cache, preempter, clock, preemption = _setup([urgent], [_running("victim")])
    preempter.fail = True
    assert await preemption.run(cache, _short(urgent)) == []
    preempter.fail = False
    assert await preemption.run(cache, _short(urgent)) == ["victim"]
    assert await preemption.run(cache, _short(urgent)) == []  # waiting for the room it made
    assert len(preempter.calls) == 1
    clock.advance(31)
    assert await preemption.run(cache, _short(urgent)) == ["victim"]  # still there: ask again


async def test_a_preemptor_whose_victims_the_registry_refused_may_look_again_at_once():
    urgent = replace(session(session_id="urgent", cpu=4), priority=10)
    cache, preempter, _, preemption = _setup(
        [urgent], [_running("stale"), _running("other", priority=1)]
    )
    preempter.refuse = {"stale"}  # e.g. it ended meanwhile; our view was stale
    assert await preemption.run(cache, _short(urgent)) == []
    assert preemption.first([urgent]) == [urgent]
    # Not waiting for room that was never made: the next cycle picks another victim.
    assert await preemption.run(cache, _short(urgent)) == ["other"]


async def test_the_session_room_was_made_for_is_tried_first_until_the_hold_passes():
    older = session(session_id="older", cpu=4, age=0)
    urgent = replace(session(session_id="urgent", cpu=4, age=30), priority=10)
    cache, _, clock, preemption = _setup([urgent], [_running("victim")])
    assert preemption.first([older, urgent]) == [older, urgent]
    assert await preemption.run(cache, _short(urgent)) == ["victim"]
    assert preemption.first([older, urgent]) == [urgent, older]
    clock.advance(31)
    assert preemption.first([older, urgent]) == [older, urgent]
