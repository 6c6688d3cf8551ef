"""The agent index decides exactly as a scan of every agent would, on random clusters."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from libs.core.slots import ResourceSlots
from services.scheduler.domain.agent_index import AgentIndex, state_key
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.image_fit import with_image_first
from services.scheduler.domain.model import (
    Agent,
    ClusterSnapshot,
    PendingKernel,
    PendingSession,
    Placement,
)
from services.scheduler.domain.placement import place_session
from services.scheduler.domain.predicates import DEFAULT_AGENT_PREDICATES
from services.scheduler.domain.selectors import AgentSelector
from services.scheduler.domain.selectors.least_occupied import LeastOccupiedSelector
from tests.unit.scheduler.factories import agent, session, slots


class _Packing:
    """Most occupied first (bin packing), ties to the smallest id."""

    name = "test-packing"

    def select(self, kernel: PendingKernel, candidates: Sequence[Agent]) -> Agent | None:
        if not candidates:
            return None
        return min(candidates, key=lambda a: (-a.utilization_after(kernel), a.agent_id))


def _full_scan(
    pending: PendingSession, agents: Sequence[Agent], selector: AgentSelector
) -> tuple[tuple[str, str], ...] | None:
    """The reference: every agent looked at for every kernel."""
    taken: dict[str, ResourceSlots] = {}
    chosen_ids: list[tuple[str, str]] = []
    for kernel in pending.kernels:
        views = [
            dataclasses.replace(a, occupied=a.occupied + taken[a.agent_id])
            if a.agent_id in taken
            else a
            for a in agents
        ]
        fit = [a for a in views if all(p(pending, kernel, a) for p in DEFAULT_AGENT_PREDICATES)]
        chosen = selector.select(kernel, with_image_first(pending, fit))
        if chosen is None:
            return None
        chosen_ids.append((kernel.kernel_id, chosen.agent_id))
        taken[chosen.agent_id] = taken.get(chosen.agent_id, ResourceSlots()) + kernel.requested
    return tuple(chosen_ids)


def _indexed(
    pending: PendingSession, index: AgentIndex, selector: AgentSelector
) -> tuple[tuple[str, str], ...] | None:
    outcome = place_session(
        pending,
        index,
        agent_predicates=DEFAULT_AGENT_PREDICATES,
        session_predicates=(),
        selector=selector,
    )
    if not isinstance(outcome, Placement):
        return None
    return tuple((k.kernel_id, k.agent_id) for k in outcome.kernels)


def _random_agent(rng: random.Random, n: int) -> Agent:
    cpu = rng.choice((4, 8))
    a = agent(
        f"agent-{rng.randrange(10_000):05d}-{n}",
        cpu=cpu,
        mem_gib=16,
        used_cpu=rng.randrange(cpu + 1),
        used_mem_gib=rng.choice((0, 4, 8)),
        group=rng.choice(("default", "default", "gpu")),
        alive=rng.random() > 0.1,
    )
    return dataclasses.replace(
        a,
        architecture=rng.choice(("x86_64", "aarch64")),
        images=frozenset(rng.sample(("img-a", "img-b"), rng.randrange(3))),
        backend=rng.choice(("container", "process")),
    )


def _random_session(rng: random.Random) -> PendingSession:
    s = session(
        cpu=rng.randrange(1, 5),
        mem_gib=rng.choice((1, 4, 8)),
        kernels=rng.randrange(1, 4),
        group=rng.choice(("default", "gpu")),
    )
    return dataclasses.replace(
        s,
        image=rng.choice(("", "img-a", "img-b")),
        architectures=frozenset(rng.sample(("x86_64", "aarch64"), rng.randrange(3))),
    )


def test_placements_equal_a_full_scan_on_random_clusters() -> None:
    rng = random.Random(7)
    placed = 0
    for _ in range(300):
        agents = [_random_agent(rng, n) for n in range(rng.randrange(0, 40))]
        index = AgentIndex(agents)
        for selector in (LeastOccupiedSelector(), _Packing()):
            pending = _random_session(rng)
            expected = _full_scan(pending, agents, selector)
            assert _indexed(pending, index, selector) == expected
            placed += expected is not None
    assert placed > 100  # the cases are not all trivially unschedulable


def test_a_sequence_of_assumed_placements_stays_equal_to_a_full_scan() -> None:
    rng = random.Random(11)
    for _ in range(20):
        cache = ClusterCache()
        cache.replace(
            ClusterSnapshot(agents=tuple(_random_agent(rng, n) for n in range(30)), pending=())
        )
        selector = rng.choice((LeastOccupiedSelector(), _Packing()))
        for _ in range(40):
            pending = _random_session(rng)
            views = cache.agents(pending.resource_group)
            expected = _full_scan(pending, views, selector)
            outcome = place_session(
                pending,
                cache.index,
                agent_predicates=DEFAULT_AGENT_PREDICATES,
                session_predicates=(),
                selector=selector,
            )
            got = (
                tuple((k.kernel_id, k.agent_id) for k in outcome.kernels)
                if isinstance(outcome, Placement)
                else None
            )
            assert got == expected
            if isinstance(outcome, Placement):
                cache.assume(outcome)


def test_packing_fills_one_agent_before_the_next_among_many_alike() -> None:
    agents = [agent(f"a{i:04d}", cpu=4, mem_gib=16) for i in range(1000)]
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=tuple(agents), pending=()))
    chosen = []
    for _ in range(8):
        outcome = place_session(
            session(cpu=1, mem_gib=1),
            cache.index,
            agent_predicates=DEFAULT_AGENT_PREDICATES,
            session_predicates=(),
            selector=_Packing(),
        )
        assert isinstance(outcome, Placement)
        cache.assume(outcome)
        chosen.append(outcome.kernels[0].agent_id)
    assert chosen == ["a0000"] * 4 + ["a0001"] * 4
    # 1000 agents in two states: two full ones and 998 idle ones.
    assert cache.index.class_count("default") == 2


def test_a_cluster_session_is_placed_whole_or_not_at_all() -> None:
    index = AgentIndex([agent("a1", cpu=4), agent("a2", cpu=4)])
    too_big = session(cpu=3, kernels=3)  # two fit, the third does not
    outcome = place_session(
        too_big,
        index,
        agent_predicates=DEFAULT_AGENT_PREDICATES,
        session_predicates=(),
        selector=LeastOccupiedSelector(),
    )
    assert not isinstance(outcome, Placement)
    assert "cpu" in outcome.message


def test_moving_an_agent_between_states_and_groups_keeps_the_classes_right() -> None:
    index = AgentIndex([agent("a1"), agent("a2")])
    assert index.class_count("default") == 1
    index.put(dataclasses.replace(agent("a1"), occupied=slots(2, 2)))
    assert index.class_count("default") == 2
    assert [a.agent_id for a in index.representatives("default")] == ["a1", "a2"]
    assert [a.agent_id for a in index.representatives("default", excluding={"a1"})] == ["a2"]
    index.put(agent("a1", group="gpu"))
    assert [a.agent_id for a in index.agents("default")] == ["a2"]
    assert [a.agent_id for a in index.agents("gpu")] == ["a1"]
    index.remove("a2")
    assert index.class_count("default") == 0
    assert index.get("a2") is None


def test_a_groups_alive_capacity_is_the_sum_over_its_alive_agents() -> None:
    rng = random.Random(7)
    agents = [
        dataclasses.replace(
            agent(f"a{i:03d}", cpu=rng.choice([4, 8, 64]), mem_gib=rng.choice([16, 256])),
            alive=rng.random() > 0.2,
            resource_group=rng.choice(["default", "gpu"]),
        )
        for i in range(200)
    ]
    index = AgentIndex(agents)
    for group in ("default", "gpu"):
        expected = ResourceSlots()
        for a in agents:
            if a.alive and a.resource_group == group:
                expected = expected + a.available
        assert index.alive_capacity(group) == expected
    assert index.alive_capacity("none") == ResourceSlots()


def test_an_agent_with_other_occupancy_equals_a_rebuilt_one() -> None:
    agent = Agent(
        agent_id="a-1",
        alive=True,
        resource_group="default",
        available=ResourceSlots({"cpu": 8, "mem": 1 << 30, "cuda.device": 2}),
        occupied=ResourceSlots({"cpu": 1}),
        architecture="aarch64",
        images=frozenset({"python:3.11"}),
        backend="container",
    )
    occupied = ResourceSlots({"cpu": "2.5", "mem": 1 << 20})
    fast = agent.with_occupied(occupied)
    rebuilt = dataclasses.replace(agent, occupied=occupied)
    # Every field, the derived ones too: a field added later must be carried over.
    for f in dataclasses.fields(Agent):
        assert getattr(fast, f.name) == getattr(rebuilt, f.name), f.name
    assert state_key(fast) == state_key(rebuilt)
