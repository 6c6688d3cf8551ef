"""Preemption inside the cycle: the room a preemption made goes to the session it was made for."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import (
    ActiveSession,
    AgentChanged,
    ClusterSnapshot,
    SessionEnded,
    SessionPending,
)
from services.scheduler.domain.policy import get_policy
from services.scheduler.domain.selectors import get_selector
from services.scheduler.service.preempt import Preemption
from services.scheduler.service.schedule import ScheduleCycle
from tests.unit.scheduler.factories import FakeBinder, FakeClock, FakePreempter, agent, session
from tests.unit.scheduler.factories import slots as make_slots

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


async def test_a_victim_queued_again_does_not_take_back_the_room_made_for_the_preemptor():
    # The victim is older: under FIFO it would come first once it is back in the queue.
    victim = replace(session(session_id="victim", cpu=8, age=0), preemptible=True)
    urgent = replace(session(session_id="urgent", cpu=8, age=30), priority=5)
    held = make_slots(8, 1)
    running = replace(
        ActiveSession.of(victim), since=NOW - timedelta(minutes=5), slots_by_agent={"a1": held}
    )
    cache = ClusterCache()
    full = agent("a1", cpu=8, mem_gib=32, used_cpu=8, used_mem_gib=1)
    cache.replace(ClusterSnapshot(agents=(full,), pending=(urgent,), active=(running,)))
    preempter, binder = FakePreempter(), FakeBinder()
    clock = FakeClock()
    cycle = ScheduleCycle(
        cache=cache,
        binder=binder,
        policy_for=lambda _g: get_policy("fifo"),
        selector=get_selector("least-occupied"),
        clock=clock,
        preemption=Preemption(preempter, clock=clock, now=lambda: NOW),
    )

    await cycle.run_once()
    assert preempter.calls == [[("victim", "urgent")]]
    assert binder.placements == []

    # The registry queued the victim again and freed its slots; the watch reports both.
    cache.apply(SessionEnded(session_id="victim"))
    cache.apply(AgentChanged(agent=agent("a1", cpu=8, mem_gib=32)))
    cache.apply(SessionPending(session=victim))
    await cycle.run_once()

    assert [p.session_id for p in binder.placements] == ["urgent"]
    assert cache.is_pending("victim")
