"""Placement by image: the agent's architecture must match; agents holding the image first."""

from __future__ import annotations

import dataclasses

from services.scheduler.domain.agent_index import AgentIndex
from services.scheduler.domain.model import (
    NO_IMAGE_CAPABLE_AGENT,
    NO_MATCHING_ARCHITECTURE,
    Placement,
    Unschedulable,
)
from services.scheduler.domain.placement import place_session
from services.scheduler.domain.predicates import DEFAULT_AGENT_PREDICATES
from services.scheduler.domain.selectors.least_occupied import LeastOccupiedSelector
from tests.unit.scheduler.factories import agent, session

IMAGE = "cr.test:5000/shipyard/busybox:1"


def _place(pending, agents):
    return place_session(
        pending,
        AgentIndex(agents),
        agent_predicates=DEFAULT_AGENT_PREDICATES,
        session_predicates=(),
        selector=LeastOccupiedSelector(),
        misfits={},
    )


def _arch(a, arch: str, *images: str, backend: str = "container"):
    return dataclasses.replace(a, architecture=arch, images=frozenset(images), backend=backend)


def _for(pending, *archs: str):
    return dataclasses.replace(pending, image=IMAGE, architectures=frozenset(archs))


def test_an_agent_of_another_architecture_is_never_chosen():
    # The arm64 agent is idle and would win on occupancy; it must not be picked.
    agents = [_arch(agent("a-amd", used_cpu=6), "amd64"), _arch(agent("b-arm"), "arm64")]
    result = _place(_for(session(), "amd64"), agents)
    assert isinstance(result, Placement)
    assert result.kernels[0].agent_id == "a-amd"


def test_no_agent_of_the_images_architecture_is_a_named_reason():
    agents = [_arch(agent("a"), "amd64"), _arch(agent("b", alive=False), "arm64")]
    result = _place(_for(session(), "arm64"), agents)
    assert isinstance(result, Unschedulable)
    assert result.reason == NO_MATCHING_ARCHITECTURE
    assert "arm64" in result.message and "amd64" in result.message


def test_a_full_agent_of_the_right_architecture_is_a_capacity_shortage_not_a_mismatch():
    agents = [_arch(agent("a", cpu=1, used_cpu=1), "arm64")]
    result = _place(_for(session(), "arm64"), agents)
    assert isinstance(result, Unschedulable)
    assert result.reason == "no-available-instances"


def test_a_multi_arch_image_runs_on_either_architecture():
    agents = [_arch(agent("b-arm"), "arm64")]
    result = _place(_for(session(), "amd64", "arm64"), agents)
    assert isinstance(result, Placement)


def test_sessions_without_architectures_run_anywhere():
    result = _place(session(), [_arch(agent("x"), "riscv64")])
    assert isinstance(result, Placement)


def test_an_agent_that_has_the_image_is_preferred_over_a_less_busy_one():
    agents = [
        _arch(agent("a-idle"), "amd64"),
        _arch(agent("b-busy", used_cpu=4), "amd64", IMAGE),
    ]
    result = _place(_for(session(), "amd64"), agents)
    assert isinstance(result, Placement)
    assert result.kernels[0].agent_id == "b-busy"


def test_without_room_on_agents_that_have_the_image_another_one_pulls_it():
    agents = [
        _arch(agent("a-idle"), "amd64"),
        _arch(agent("b-full", cpu=1, used_cpu=1), "amd64", IMAGE),
    ]
    result = _place(_for(session(), "amd64"), agents)
    assert isinstance(result, Placement)
    assert result.kernels[0].agent_id == "a-idle"


def test_process_agents_run_only_the_images_they_report():
    builtin = "docker.io/library/python:3.11"
    process = _arch(agent("p"), "amd64", builtin, backend="process")
    placed = _place(dataclasses.replace(_for(session(), "amd64"), image=builtin), [process])
    assert isinstance(placed, Placement)

    result = _place(_for(session(), "amd64"), [process])
    assert isinstance(result, Unschedulable)
    assert result.reason == NO_IMAGE_CAPABLE_AGENT
    assert IMAGE in result.message and "process" in result.message


def test_a_container_agent_pulls_what_a_process_agent_cannot_run():
    agents = [
        _arch(agent("a-process"), "amd64", backend="process"),
        _arch(agent("b-container", used_cpu=6), "amd64"),
    ]
    result = _place(_for(session(), "amd64"), agents)
    assert isinstance(result, Placement)
    assert result.kernels[0].agent_id == "b-container"
