"""A cycle applies each resource group's own policy and selector."""

from __future__ import annotations

from dataclasses import replace

from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.group_config import GroupConfig, GroupScheduling
from services.scheduler.domain.model import ActiveSession, ClusterSnapshot
from services.scheduler.service.schedule import ScheduleCycle
from tests.unit.scheduler.factories import FakeBinder, FakeClock, agent, session, slots


def _cycle(agents, pending, active, config: GroupConfig):
    cache = ClusterCache()
    cache.replace(
        ClusterSnapshot(agents=tuple(agents), pending=tuple(pending), active=tuple(active))
    )
    binder = FakeBinder()
    cycle = ScheduleCycle(
        cache=cache,
        binder=binder,
        policy_for=config.policy_for,
        selector=config.selector_for(""),
        selector_for=config.selector_for,
        clock=FakeClock(),
    )
    return binder, cycle


def _holding(user: str, cpu: int) -> ActiveSession:
    return ActiveSession(
        session_id=f"active-{user}",
        access_key=user,
        owner_user_id=user,
        project_id="p1",
        domain_name="default",
        slots=slots(cpu, 1),
        resource_group="default",
    )


async def test_drf_gives_the_last_free_slot_to_the_user_holding_less():
    # 8 cpus, alice already holds 6: her older request loses to bob's newer one.
    alice = session(session_id="alice-2", owner="alice", cpu=2, age=0)
    bob = session(session_id="bob-1", owner="bob", cpu=2, age=5)
    node = agent("a1", cpu=8, mem_gib=32, used_cpu=6, used_mem_gib=1)
    drf = GroupConfig(GroupScheduling(policy="drf"))
    binder, cycle = _cycle([node], [alice, bob], [_holding("alice", 6)], drf)
    await cycle.run_once()
    assert [p.session_id for p in binder.placements] == ["bob-1"]

    fifo = GroupConfig(GroupScheduling(policy="fifo"))
    binder, cycle = _cycle([node], [alice, bob], [_holding("alice", 6)], fifo)
    await cycle.run_once()
    assert [p.session_id for p in binder.placements] == ["alice-2"]


async def test_priority_group_places_the_urgent_session_first():
    routine = session(session_id="routine", cpu=4, age=0)
    urgent = replace(session(session_id="urgent", cpu=4, age=9), priority=50)
    config = GroupConfig(GroupScheduling(policy="priority"))
    binder, cycle = _cycle([agent("a1", cpu=4)], [routine, urgent], [], config)
    await cycle.run_once()
    assert [p.session_id for p in binder.placements] == ["urgent"]
    assert [n.session_id for n in binder.notes] == ["routine"]


async def test_each_group_places_with_its_own_selector():
    agents = [
        agent("p-busy", group="packed", used_cpu=6),
        agent("p-idle", group="packed"),
        agent("s-busy", group="spread", used_cpu=6),
        agent("s-idle", group="spread"),
    ]
    pending = [session(group="packed", session_id="p"), session(group="spread", session_id="s")]
    config = GroupConfig(
        GroupScheduling(selector="least-occupied"),
        {"packed": GroupScheduling(selector="most-occupied")},
    )
    binder, cycle = _cycle(agents, pending, [], config)
    await cycle.run_once()
    chosen = {p.session_id: p.kernels[0].agent_id for p in binder.placements}
    assert chosen == {"p": "p-busy", "s": "s-idle"}
