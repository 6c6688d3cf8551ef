"""Preemption (who is ended for whom) and reservations with backfill (no starvation)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.scheduler.domain.model import ActiveSession, Agent
from services.scheduler.domain.preemption import choose_victims
from services.scheduler.domain.reservation import may_backfill, reserve, starving
from tests.unit.scheduler.factories import agent, session, slots

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _running(
    sid: str,
    on: Agent,
    cpu: int,
    *,
    priority: int = 0,
    preemptible: bool = True,
    minutes: int = 10,
    domain: str = "default",
    expected: float = 0.0,
) -> ActiveSession:
    held = slots(cpu, 1)
    return ActiveSession(
        session_id=sid,
        access_key="AK",
        project_id="p1",
        domain_name=domain,
        slots=held,
        priority=priority,
        preemptible=preemptible,
        since=NOW - timedelta(minutes=minutes),
        slots_by_agent={on.agent_id: held},
        expected_duration=expected,
    )


def _full(agent_id: str = "a1") -> Agent:
    return agent(agent_id, cpu=8, mem_gib=32, used_cpu=8, used_mem_gib=2)


def _urgent(cpu: int = 4, priority: int = 10):
    return replace(session(cpu=cpu, mem_gib=1), priority=priority)


def test_the_victims_that_lose_the_least_work_are_chosen():
    node = _full()
    active = [
        _running("long", node, 4, minutes=600),
        _running("short", node, 4, minutes=5),
    ]
    chosen = choose_victims(_urgent(), [node], active, now=NOW)
    assert chosen is not None and chosen.victims == ("short",)


def test_lowest_priority_goes_first_whatever_its_run_time():
    node = _full()
    active = [
        _running("p5-young", node, 4, priority=5, minutes=1),
        _running("p1-old", node, 4, priority=1, minutes=900),
    ]
    chosen = choose_victims(_urgent(), [node], active, now=NOW)
    assert chosen is not None and chosen.victims == ("p1-old",)


def test_only_as_many_victims_as_needed_are_ended():
    node = _full()
    active = [_running(f"s{i}", node, 2, minutes=i + 1) for i in range(4)]
    chosen = choose_victims(_urgent(cpu=4), [node], active, now=NOW)
    assert chosen is not None and chosen.victims == ("s0", "s1")


def test_non_preemptible_equal_priority_and_other_tenants_are_never_victims():
    node = _full()
    active = [
        _running("pinned", node, 4, preemptible=False),
        _running("peer", node, 2, priority=10),
        _running("stranger", node, 2, domain="other"),
    ]
    assert choose_victims(_urgent(), [node], active, now=NOW) is None


def test_the_agent_with_the_cheapest_eviction_wins():
    a1, a2 = _full("a1"), _full("a2")
    active = [_running("busy", a1, 8, minutes=300), _running("light", a2, 8, minutes=3)]
    chosen = choose_victims(_urgent(), [a1, a2], active, now=NOW)
    assert chosen is not None and (chosen.agent_id, chosen.victims) == ("a2", ("light",))


def test_nothing_is_preempted_for_a_request_larger_than_any_agent():
    node = _full()
    assert choose_victims(_urgent(cpu=16), [node], [_running("x", node, 8)], now=NOW) is None


def test_a_session_waiting_longer_than_the_bounded_wait_is_starving():
    big = replace(session(cpu=8), create_time=NOW - timedelta(minutes=11))
    assert starving(big, now=NOW, max_wait=timedelta(minutes=10))
    assert not starving(big, now=NOW, max_wait=timedelta(minutes=20))
    assert not starving(big, now=NOW, max_wait=timedelta(0))


def test_a_reservation_goes_where_the_request_frees_up_soonest():
    a1, a2 = _full("a1"), _full("a2")
    active = [
        _running("late", a1, 8, minutes=10, expected=3600),
        _running("soon", a2, 8, minutes=10, expected=1200),
    ]
    big = session(cpu=8, mem_gib=1)
    reservation = reserve(big, [a1, a2], active)
    assert reservation is not None and reservation.agent_id == "a2"
    assert reservation.starts_at == NOW + timedelta(minutes=10)


def test_backfill_admits_only_sessions_that_end_before_the_reserved_start():
    node = agent("a1", cpu=8, mem_gib=32, used_cpu=6, used_mem_gib=1)
    holder = _running("holder", node, 6, minutes=10, expected=1800)  # ends in 20 minutes
    big = session(cpu=8, mem_gib=1)
    reservation = reserve(big, [node], [holder])
    assert reservation is not None
    quick = replace(session(cpu=2, mem_gib=1), expected_duration=600)
    slow = replace(session(cpu=2, mem_gib=1), expected_duration=7200)
    unknown = session(cpu=2, mem_gib=1)
    assert may_backfill(quick, node, reservation, now=NOW)
    assert not may_backfill(slow, node, reservation, now=NOW)
    assert not may_backfill(unknown, node, reservation, now=NOW)
    assert may_backfill(big, node, reservation, now=NOW)  # its own reservation


def test_backfill_into_slots_the_reservation_does_not_need_is_always_allowed():
    node = agent("a1", cpu=16, mem_gib=32, used_cpu=8)
    reservation = reserve(session(cpu=4, mem_gib=1), [node], [])
    assert reservation is not None
    assert may_backfill(session(cpu=2, mem_gib=1), node, reservation, now=NOW)


def test_a_reservation_behind_sessions_without_an_end_estimate_admits_no_backfill():
    node = _full()
    reservation = reserve(session(cpu=8, mem_gib=1), [node], [_running("open", node, 8)])
    assert reservation is not None and reservation.starts_at is None
    quick = replace(session(cpu=1, mem_gib=1), expected_duration=1)
    assert not may_backfill(quick, node, reservation, now=NOW)


def test_no_reservation_for_a_request_no_agent_could_ever_hold():
    assert reserve(session(cpu=64), [agent("a1", cpu=8)], []) is None
