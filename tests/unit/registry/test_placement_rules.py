"""The rules a bind checks for each agent, and how occupancy is derived."""

from __future__ import annotations

from dataclasses import replace

from shipyard.registry.v1 import session_service_pb2 as pb

from libs.core.slots import ResourceSlots
from services.registry.api.convert import STATUS_TO_PB
from services.registry.domain.model import Agent, AgentStatus, Status
from services.registry.domain.placement import occupied_by, placement_conflict

AGENT = Agent(
    agent_id="a1",
    status=AgentStatus.ALIVE,
    address="127.0.0.1:1",
    resource_group="default",
    available_slots=ResourceSlots({"cpu": "4", "mem": "4000"}),
    occupied_slots=ResourceSlots({"cpu": "3", "mem": "1000"}),
    backend="process",
    last_heartbeat=None,
    architecture="x86_64",
)


def _conflict(agent: Agent | None, cpu: str = "1", archs: tuple[str, ...] = ()) -> str:
    return placement_conflict(
        agent,
        resource_group="default",
        image_architectures=archs,
        wanted=ResourceSlots({"cpu": cpu, "mem": "100"}),
    )


def test_an_alive_agent_with_room_takes_the_kernel() -> None:
    assert _conflict(AGENT, cpu="1", archs=("x86_64", "aarch64")) == ""


def test_each_refusal_names_its_reason() -> None:
    assert _conflict(None) == "agent-not-alive"
    assert _conflict(replace(AGENT, status=AgentStatus.LOST)) == "agent-not-alive"
    assert _conflict(replace(AGENT, resource_group="gpu")) == "agent-resource-group-mismatch"
    assert _conflict(AGENT, archs=("aarch64",)) == "agent-architecture-mismatch"
    assert _conflict(AGENT, cpu="1.5") == "agent-capacity-exceeded"


def test_occupancy_is_the_sum_of_live_allocations() -> None:
    total = occupied_by([ResourceSlots({"cpu": "1"}), ResourceSlots({"cpu": "0.5", "mem": "10"})])
    assert total == ResourceSlots({"cpu": "1.5", "mem": "10"})
    assert occupied_by([]) == ResourceSlots()


def test_every_status_is_one_of_the_protos_and_back() -> None:
    proto = {v for n, v in pb.SessionStatus.items() if n != "SESSION_STATUS_UNSPECIFIED"}
    assert set(STATUS_TO_PB.values()) == proto
    assert {pb.SessionStatus.Name(STATUS_TO_PB[s]) for s in Status} == {
        f"SESSION_STATUS_{s.value}" for s in Status
    }
