"""Why pending: shortage counted over agents, and the queue position."""

from __future__ import annotations

from services.scheduler.domain.why_pending import queue_positions, shortage_by_agents
from tests.unit.scheduler.factories import agent, session, slots


def test_shortage_counts_the_agents_short_of_each_slot_and_the_smallest_gap():
    agents = [agent(f"a{i}", cpu=8, mem_gib=32, used_cpu=7) for i in range(7)]
    agents += [agent(f"b{i}", cpu=8, mem_gib=32, used_mem_gib=30) for i in range(3)]
    message = shortage_by_agents(slots(3, 4), agents)
    assert message == "cpu short by 2 on 7 of 10 agents; mem short by 2 GiB on 3 of 10 agents"


def test_dead_agents_are_not_counted():
    agents = [agent("a1", used_cpu=8), agent("a2", alive=False)]
    assert shortage_by_agents(slots(1, 1), agents) == "cpu short by 1 on 1 of 1 agents"
    assert shortage_by_agents(slots(1, 1), [agent("a2", alive=False)]) == ""


def test_each_slot_is_counted_on_its_own_agents():
    agents = [agent("a1", used_cpu=8), agent("a2", mem_gib=4, used_mem_gib=4)]
    assert shortage_by_agents(slots(1, 1), agents) == (
        "cpu short by 1 on 1 of 2 agents; mem short by 1 GiB on 1 of 2 agents"
    )


def test_when_capacity_is_not_the_problem_the_message_says_so():
    assert shortage_by_agents(slots(1, 1), [agent("a1"), agent("a2")]) == (
        "all 2 agents have room; other predicates excluded them"
    )


def test_queue_positions_follow_the_policy_order():
    first, second = session(session_id="x"), session(session_id="y")
    assert queue_positions([first, second]) == {"x": (1, 2), "y": (2, 2)}
