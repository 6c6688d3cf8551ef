from __future__ import annotations

from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import (
    AgentChanged,
    ClusterSnapshot,
    KernelPlacement,
    Placement,
    SessionPending,
    SessionRemoved,
)
from tests.unit.scheduler.factories import agent, session, slots


def _placement(session_id: str, agent_id: str, cpu: int, mem_gib: int) -> Placement:
    return Placement(
        session_id=session_id,
        kernels=(
            KernelPlacement(
                kernel_id="k-" + session_id, agent_id=agent_id, slots=slots(cpu, mem_gib)
            ),
        ),
    )


def _cache(*agents, pending=()) -> ClusterCache:
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=tuple(agents), pending=tuple(pending)))
    return cache


def test_assume_adds_to_occupied_and_forget_restores_it():
    cache = _cache(agent("a1", cpu=8, mem_gib=32, used_cpu=1, used_mem_gib=2))

    cache.assume(_placement("s1", "a1", 2, 4))
    cache.assume(_placement("s2", "a1", 1, 1))
    assert cache.agent("a1").occupied == slots(4, 7)

    cache.forget("s1")
    assert cache.agent("a1").occupied == slots(2, 3)
    cache.forget("s2")
    cache.forget("s2")  # forgetting twice is harmless
    assert cache.agent("a1").occupied == slots(1, 2)


def test_assumption_survives_agent_updates_until_the_watch_confirms_the_bind():
    s1 = session(cpu=2, mem_gib=4)
    cache = _cache(agent("a1"), pending=[s1])
    cache.assume(_placement(s1.session_id, "a1", 2, 4))

    cache.confirm_bound(s1.session_id, now=0.0)
    assert not cache.is_pending(s1.session_id)
    assert cache.agent("a1").occupied == slots(2, 4)

    # The registry publishes the new occupancy, then the removal: counted once in the end.
    cache.apply(AgentChanged(agent=agent("a1", used_cpu=2, used_mem_gib=4)))
    cache.apply(SessionRemoved(session_id=s1.session_id))
    assert cache.agent("a1").occupied == slots(2, 4)


def test_bound_assumption_expires_when_no_confirmation_comes():
    cache = _cache(agent("a1"))
    cache.assume(_placement("s1", "a1", 2, 4))
    cache.confirm_bound("s1", now=100.0)

    cache.expire_bound(now=110.0, ttl=30.0)
    assert cache.agent("a1").occupied == slots(2, 4)
    cache.expire_bound(now=130.0, ttl=30.0)
    assert cache.agent("a1").occupied == slots()


def test_snapshot_drops_assumptions_and_keeps_attempts_of_sessions_still_pending():
    s1, s2 = session(), session()
    cache = _cache(agent("a1"), pending=[s1, s2])
    cache.assume(_placement(s1.session_id, "a1", 2, 4))
    cache.attempt(s1.session_id).record("no-available-instances", "full")
    cache.attempt(s2.session_id).record("no-available-instances", "full")

    cache.replace(ClusterSnapshot(agents=(agent("a1"),), pending=(s1,)))

    assert cache.agent("a1").occupied == slots()
    assert not cache.is_assumed(s1.session_id)
    assert cache.find_attempt(s1.session_id).attempts == 1
    assert cache.find_attempt(s2.session_id) is None
    assert [s.session_id for s in cache.pending()] == [s1.session_id]


def test_agent_changes_move_agents_between_groups():
    cache = _cache(agent("a1", group="default"), agent("a2", group="gpu"))
    cache.apply(AgentChanged(agent=agent("a1", group="gpu")))
    assert [a.agent_id for a in cache.agents("gpu")] == ["a1", "a2"]
    assert cache.agents("default") == []


def test_pending_changes_add_and_remove_sessions():
    cache = _cache(agent("a1"))
    s1 = session()
    cache.apply(SessionPending(session=s1))
    assert cache.is_pending(s1.session_id)
    cache.apply(SessionRemoved(session_id=s1.session_id))
    assert not cache.is_pending(s1.session_id)
