"""Starvation: a large session that keeps losing gets a reservation; backfill respects it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import ActiveSession, ClusterSnapshot
from services.scheduler.domain.policy import get_policy
from services.scheduler.domain.selectors import get_selector
from services.scheduler.service.reservations import Reservations
from services.scheduler.service.schedule import ScheduleCycle
from tests.unit.scheduler.factories import T0, FakeBinder, FakeClock, agent, session, slots

NOW = T0 + timedelta(hours=1)


def _holder(minutes_left: int) -> ActiveSession:
    """A running session holding 6 of a1's 8 cpus, expected to end in `minutes_left`."""
    held = slots(6, 1)
    return ActiveSession(
        session_id="running",
        access_key="AK",
        project_id="p1",
        domain_name="default",
        slots=held,
        since=NOW - timedelta(minutes=10),
        expected_duration=(10 + minutes_left) * 60,
        slots_by_agent={"a1": held},
    )


def _cycle(pending, *, wait_minutes: int = 30):
    cache = ClusterCache()
    node = agent("a1", cpu=8, mem_gib=32, used_cpu=6, used_mem_gib=1)
    cache.replace(ClusterSnapshot(agents=(node,), pending=tuple(pending), active=(_holder(20),)))
    reservations = Reservations(
        wait_for=lambda _g: timedelta(minutes=wait_minutes), now=lambda: NOW
    )
    fifo = get_policy("fifo")
    binder = FakeBinder()
    cycle = ScheduleCycle(
        cache=cache,
        binder=binder,
        policy_for=lambda _g: fifo,
        selector=get_selector("least-occupied"),
        clock=FakeClock(),
        reservations=reservations,
    )
    return cache, binder, reservations, cycle


async def test_smaller_sessions_keep_winning_until_the_large_one_has_waited_too_long():
    big = session(session_id="big", cpu=8, age=0)  # an hour old
    small = session(session_id="small", cpu=2, age=59)
    _, binder, reservations, cycle = _cycle([big, small], wait_minutes=120)
    await cycle.run_once()
    assert [p.session_id for p in binder.placements] == ["small"]
    assert reservations.reservation_of("big") is None  # not starving yet


async def test_a_starving_session_gets_a_reservation_that_blocks_open_ended_backfill():
    big = session(session_id="big", cpu=8, age=0)
    open_ended = session(session_id="open", cpu=2, age=50)
    quick = replace(session(session_id="quick", cpu=2, age=55), expected_duration=600)
    slow = replace(session(session_id="slow", cpu=2, age=56), expected_duration=7200)
    cache, binder, reservations, cycle = _cycle([big, open_ended, quick, slow])
    cache.attempt("big").record("no-available-instances", "cpu short")

    await cycle.run_once()

    held = reservations.reservation_of("big")
    assert held is not None and held.agent_id == "a1"
    assert held.starts_at == NOW + timedelta(minutes=20)
    # Only the session expected to end before the reservation's start may use a1 now.
    assert [p.session_id for p in binder.placements] == ["quick"]
    notes = {n.session_id for n in binder.notes}
    assert {"big", "open", "slow"} <= notes


async def test_the_reservation_ends_when_its_session_leaves_the_queue():
    big = session(session_id="big", cpu=8, age=0)
    cache, _, reservations, cycle = _cycle([big])
    cache.attempt("big").record("no-available-instances", "cpu short")
    await cycle.run_once()
    assert reservations.reservation_of("big") is not None
    cache.remove_pending("big")
    await cycle.run_once()
    assert reservations.reservation_of("big") is None
