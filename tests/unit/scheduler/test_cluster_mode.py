"""Cluster sessions: single-node puts every kernel on one agent, multi-node may spread; both
are all-or-nothing."""

from __future__ import annotations

import dataclasses

from services.scheduler.domain.agent_index import AgentIndex
from services.scheduler.domain.model import (
    NO_AVAILABLE_INSTANCES,
    Agent,
    PendingSession,
    Placement,
    Unschedulable,
)
from services.scheduler.domain.placement import place_session
from services.scheduler.domain.predicates import DEFAULT_AGENT_PREDICATES
from services.scheduler.domain.selectors.least_occupied import LeastOccupiedSelector
from tests.unit.scheduler.factories import agent, session


def _place(s: PendingSession, agents: list[Agent]) -> Placement | Unschedulable:
    return place_session(
        s,
        AgentIndex(agents),
        agent_predicates=DEFAULT_AGENT_PREDICATES,
        session_predicates=(),
        selector=LeastOccupiedSelector(),
    )


def test_single_node_puts_every_kernel_on_one_agent_even_when_spreading_is_preferred() -> None:
    s = dataclasses.replace(session(cpu=1, kernels=3), single_node=True)
    placed = _place(s, [agent("a1", cpu=4), agent("a2", cpu=4)])
    assert isinstance(placed, Placement)
    assert len({k.agent_id for k in placed.kernels}) == 1
    assert sorted(k.kernel_id for k in placed.kernels) == sorted(k.kernel_id for k in s.kernels)
    assert all(k.slots == s.kernels[0].requested for k in placed.kernels)


def test_multi_node_spreads_over_agents_that_fit_one_kernel_each() -> None:
    s = session(cpu=4, kernels=2)  # single_node False: multi-node
    placed = _place(s, [agent("a1", cpu=4), agent("a2", cpu=4)])
    assert isinstance(placed, Placement)
    assert sorted(k.agent_id for k in placed.kernels) == ["a1", "a2"]


def test_single_node_larger_than_any_agent_stays_pending_with_the_reason() -> None:
    s = dataclasses.replace(session(cpu=4, kernels=2), single_node=True)
    placed = _place(s, [agent("a1", cpu=4), agent("a2", cpu=4)])
    assert isinstance(placed, Unschedulable)
    assert placed.reason == NO_AVAILABLE_INSTANCES
    assert placed.message.startswith("single-node cluster of 2 kernels needs one agent: ")
    assert "cpu 8" in placed.message


def test_multi_node_that_cannot_place_its_last_kernel_places_none() -> None:
    s = session(cpu=4, kernels=3)
    placed = _place(s, [agent("a1", cpu=4), agent("a2", cpu=4)])
    assert isinstance(placed, Unschedulable)
    assert placed.reason == NO_AVAILABLE_INSTANCES
