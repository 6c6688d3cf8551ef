from __future__ import annotations

import pytest

from libs.core.errors import Unavailable
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import (
    NO_AVAILABLE_INSTANCES,
    PREDICATE_CHECKS_FAILED,
    AgentChanged,
    ClusterSnapshot,
    PendingSession,
    SessionPending,
    SessionRemoved,
)
from services.scheduler.domain.policy import get_policy
from services.scheduler.domain.predicates import DEFAULT_SESSION_PREDICATES
from services.scheduler.domain.selectors import get_selector
from services.scheduler.service.schedule import ScheduleCycle
from tests.unit.scheduler.factories import FakeBinder, FakeClock, agent, session, slots


def _setup(
    agents,
    pending,
    *,
    session_predicates=DEFAULT_SESSION_PREDICATES,
    note_interval=60.0,
    max_batch=2000,
):
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=tuple(agents), pending=tuple(pending)))
    binder = FakeBinder()
    clock = FakeClock()
    fifo = get_policy("fifo")
    cycle = ScheduleCycle(
        cache=cache,
        binder=binder,
        policy_for=lambda _group: fifo,
        selector=get_selector("least-occupied"),
        clock=clock,
        session_predicates=session_predicates,
        note_interval=note_interval,
        max_batch=max_batch,
    )
    return cache, binder, clock, cycle


async def test_fifo_binds_older_sessions_first_when_capacity_is_short():
    newest, oldest, middle = session(cpu=2, age=9), session(cpu=2, age=1), session(cpu=2, age=5)
    cache, binder, _, cycle = _setup([agent("a1", cpu=4)], [newest, oldest, middle])

    report = await cycle.run_once()

    assert len(binder.calls) == 1  # one BindSessions per cycle
    assert [p.session_id for p in binder.placements] == [oldest.session_id, middle.session_id]
    assert report.bound == (oldest.session_id, middle.session_id)
    assert [n.session_id for n in binder.notes] == [newest.session_id]
    assert [s.session_id for s in cache.pending()] == [newest.session_id]


async def test_an_unschedulable_big_session_does_not_block_smaller_later_ones():
    big = session(cpu=1, mem_gib=64, age=0)
    small1, small2 = session(cpu=1, mem_gib=4, age=1), session(cpu=1, mem_gib=4, age=2)
    cache, binder, _, cycle = _setup(
        [agent("a1", mem_gib=32, used_mem_gib=9)], [big, small1, small2]
    )

    await cycle.run_once()

    assert [p.session_id for p in binder.placements] == [small1.session_id, small2.session_id]
    (note,) = binder.notes
    assert note.session_id == big.session_id
    assert note.reason == NO_AVAILABLE_INSTANCES
    assert note.message == (
        "no agent in resource group 'default' has mem 64 GiB free (largest free: 23 GiB); "
        "mem short by 41 GiB on 1 of 1 agents"
    )
    assert cache.find_attempt(big.session_id).attempts == 1


async def test_placements_spread_over_agents_and_count_earlier_decisions():
    sessions = [session(cpu=2, age=i) for i in range(4)]
    _, binder, _, cycle = _setup([agent("a1", cpu=4), agent("a2", cpu=4)], sessions)

    await cycle.run_once()

    agents = [p.kernels[0].agent_id for p in binder.placements]
    assert agents == ["a1", "a2", "a1", "a2"]


async def test_bound_slots_stay_taken_until_the_registry_reports_them():
    first, second = session(cpu=4, age=0), session(cpu=4, age=1)
    cache, binder, _, cycle = _setup([agent("a1", cpu=4)], [first])
    await cycle.run_once()

    cache.apply(SessionPending(session=second))
    await cycle.run_once()
    assert [p.session_id for p in binder.placements] == [first.session_id]

    # The watch confirms the bind, then the first session ends and the agent is free again.
    cache.apply(AgentChanged(agent=agent("a1", cpu=4, used_cpu=4)))
    cache.apply(SessionRemoved(session_id=first.session_id))
    await cycle.run_once()
    assert [p.session_id for p in binder.placements] == [first.session_id]
    cache.apply(AgentChanged(agent=agent("a1", cpu=4)))
    await cycle.run_once()
    assert [p.session_id for p in binder.placements] == [first.session_id, second.session_id]


async def test_a_conflict_is_forgotten_and_retried_next_cycle():
    s1 = session(cpu=4)
    cache, binder, _, cycle = _setup([agent("a1", cpu=4)], [s1])
    binder.conflicts[s1.session_id] = "agent-capacity-exceeded"

    report = await cycle.run_once()

    assert report.conflicts == (s1.session_id,)
    assert cache.agent("a1").occupied == slots()
    assert cache.is_pending(s1.session_id)
    assert cache.find_attempt(s1.session_id).last_reason == "agent-capacity-exceeded"

    report = await cycle.run_once()
    assert report.bound == (s1.session_id,)
    assert len(binder.placements) == 2


async def test_a_session_that_is_no_longer_pending_leaves_the_queue():
    s1 = session()
    cache, binder, _, cycle = _setup([agent("a1")], [s1])
    binder.conflicts[s1.session_id] = "session-not-pending"

    await cycle.run_once()

    assert not cache.is_pending(s1.session_id)
    assert cache.agent("a1").occupied == slots()


async def test_a_failed_bind_call_forgets_the_batch():
    s1 = session(cpu=4)
    cache, binder, _, cycle = _setup([agent("a1", cpu=4)], [s1])
    binder.fail_with = Unavailable("registry down")

    with pytest.raises(Unavailable):
        await cycle.run_once()
    assert cache.agent("a1").occupied == slots()
    assert cache.is_pending(s1.session_id)

    binder.fail_with = None
    assert (await cycle.run_once()).bound == (s1.session_id,)


async def test_unschedulable_notes_are_sent_only_when_changed_or_due():
    big = session(cpu=16)
    cache, binder, clock, cycle = _setup([agent("a1", cpu=8)], [big], note_interval=60.0)

    await cycle.run_once()
    await cycle.run_once()
    assert len(binder.notes) == 1  # unchanged: no second write
    assert len(binder.calls) == 1  # nothing to send: no call at all
    assert cache.find_attempt(big.session_id).attempts == 2

    cache.apply(AgentChanged(agent=agent("a1", cpu=8, used_cpu=2)))
    await cycle.run_once()
    assert len(binder.notes) == 1  # only the message changed: not rewritten at every change
    clock.advance(10.0)
    await cycle.run_once()
    assert len(binder.notes) == 2  # ... but within the message interval
    assert "largest free: 6" in binder.notes[-1].message

    clock.advance(60.0)
    await cycle.run_once()
    assert len(binder.notes) == 3  # periodic refresh


async def test_all_kernels_of_a_session_are_placed_or_none():
    fits = session(cpu=4, kernels=2, age=1)
    too_many = session(cpu=4, kernels=3, age=0)
    _, binder, _, cycle = _setup([agent("a1", cpu=4), agent("a2", cpu=4)], [too_many, fits])

    await cycle.run_once()

    (placement,) = binder.placements
    assert placement.session_id == fits.session_id
    assert sorted(k.agent_id for k in placement.kernels) == ["a1", "a2"]
    assert [n.session_id for n in binder.notes] == [too_many.session_id]


async def test_resource_groups_are_scheduled_independently():
    gpu_session = session(group="gpu", age=0)
    default_session = session(group="default", age=1)
    _, binder, _, cycle = _setup([agent("a1", group="default")], [gpu_session, default_session])

    await cycle.run_once()

    assert [p.session_id for p in binder.placements] == [default_session.session_id]
    (note,) = binder.notes
    assert note.message == "no alive agent in resource group 'gpu'"


async def test_dead_agents_are_not_chosen():
    s1 = session()
    _, binder, _, cycle = _setup([agent("a1", alive=False), agent("a2")], [s1])
    await cycle.run_once()
    assert binder.placements[0].kernels[0].agent_id == "a2"


class _NotBefore:
    name = "reserved-time"

    def __init__(self, blocked: str) -> None:
        self.blocked = blocked

    def __call__(self, session: PendingSession) -> str | None:
        return "Before start time" if session.session_id == self.blocked else None


async def test_a_failed_session_predicate_is_recorded_and_others_go_on():
    blocked, free = session(age=0), session(age=1)
    _, binder, _, cycle = _setup(
        [agent("a1")], [blocked, free], session_predicates=[_NotBefore(blocked.session_id)]
    )

    await cycle.run_once()

    assert [p.session_id for p in binder.placements] == [free.session_id]
    (note,) = binder.notes
    assert (note.reason, note.message) == (
        PREDICATE_CHECKS_FAILED,
        "reserved-time: Before start time",
    )


async def test_sessions_asking_the_same_as_an_unplaceable_one_share_its_verdict():
    big1, big2 = session(cpu=16, age=0), session(cpu=16, age=1)
    small = session(cpu=1, age=2)
    cache, binder, _, cycle = _setup([agent("a1", cpu=8)], [big1, big2, small])

    await cycle.run_once()

    assert [p.session_id for p in binder.placements] == [small.session_id]
    first, second = binder.notes
    assert (first.session_id, second.session_id) == (big1.session_id, big2.session_id)
    assert first.message == second.message
    assert cache.find_attempt(big2.session_id).attempts == 1


async def test_a_long_queue_is_bound_in_batches_in_policy_order():
    queue = [session(cpu=1, age=i) for i in range(5)]  # queue[0] is the oldest
    _, binder, _, cycle = _setup([agent("a1", cpu=8)], queue, max_batch=2)

    first = await cycle.run_once()
    second = await cycle.run_once()
    third = await cycle.run_once()

    assert [len(c[0]) for c in binder.calls] == [2, 2, 1]  # one bind call per batch
    assert (first.more, second.more, third.more) == (True, True, False)
    assert [p.session_id for p in binder.placements] == [s.session_id for s in queue]
