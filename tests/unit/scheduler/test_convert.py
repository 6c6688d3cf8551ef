from __future__ import annotations

from datetime import UTC, datetime

from shipyard.auth.v1 import policy_service_pb2 as auth_pb
from shipyard.auth.v1 import resource_policy_service_pb2 as policy_pb
from shipyard.registry.v1 import scheduling_service_pb2 as reg_pb
from shipyard.type.v1 import resources_pb2

from services.scheduler.adapters import registry_convert
from services.scheduler.adapters.limits_client import limits_from_pb
from services.scheduler.api import convert as api_convert
from services.scheduler.domain.model import (
    AgentChanged,
    ClusterSnapshot,
    KernelPlacement,
    Placement,
    QueuedSession,
    SessionRemoved,
    Unschedulable,
)
from services.scheduler.service.list_pending import PendingQueue
from tests.unit.scheduler.factories import session, slots


def _agent_pb(agent_id: str, mem: str = "1073741824") -> reg_pb.AgentState:
    return reg_pb.AgentState(
        agent_id=agent_id,
        alive=True,
        resource_group="default",
        available_slots=resources_pb2.ResourceSlots(amounts={"cpu": "4", "mem": mem}),
        occupied_slots=resources_pb2.ResourceSlots(amounts={"cpu": "1"}),
    )


def test_watch_messages_become_cluster_changes():
    pending = reg_pb.PendingSession(
        session_id="s1",
        access_key="AK",
        resource_group="default",
        kernels=[
            reg_pb.PendingKernel(
                kernel_id="k1", requested_slots=resources_pb2.ResourceSlots(amounts={"cpu": "2"})
            )
        ],
        trace_context={"traceparent": "00-abc-def-01"},
    )
    pending.create_time.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))
    msg = reg_pb.WatchClusterStateResponse(
        snapshot=reg_pb.ClusterSnapshot(
            agents=[_agent_pb("a1"), _agent_pb("bad", mem="lots")], pending_sessions=[pending]
        )
    )

    change = registry_convert.change_from_pb(msg)

    assert isinstance(change, ClusterSnapshot)
    assert [a.agent_id for a in change.agents] == ["a1"]  # the malformed agent is skipped
    assert change.agents[0].available == slots(4, 1)
    (s,) = change.pending
    assert s.create_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert s.kernels[0].requested == slots(2)
    assert s.trace_context == {"traceparent": "00-abc-def-01"}
    assert isinstance(
        registry_convert.change_from_pb(reg_pb.WatchClusterStateResponse(agent=_agent_pb("a2"))),
        AgentChanged,
    )
    assert registry_convert.change_from_pb(
        reg_pb.WatchClusterStateResponse(session_removed="s1")
    ) == SessionRemoved(session_id="s1")
    assert registry_convert.change_from_pb(reg_pb.WatchClusterStateResponse()) is None


def test_bind_request_carries_placements_and_notes():
    placement = Placement(
        session_id="s1",
        kernels=(KernelPlacement(kernel_id="k1", agent_id="a1", slots=slots(1)),),
    )
    note = Unschedulable(session_id="s2", reason="no-available-instances", message="full")

    msg = registry_convert.bind_request_to_pb("sched-1", [placement], [note])

    assert msg.scheduler_id == "sched-1"
    assert msg.placements[0].kernels[0].agent_id == "a1"
    assert (msg.unschedulable[0].reason, msg.unschedulable[0].message) == (
        "no-available-instances",
        "full",
    )


def test_queue_becomes_the_public_response():
    s = session(cpu=2, mem_gib=1, kernels=2)
    queued = QueuedSession(
        session=s, attempts=3, pending_reason="no-available-instances", pending_message="m"
    )

    msg = api_convert.queue_to_pb(PendingQueue(sessions=(queued,), leader=True))

    assert msg.leader
    (q,) = msg.sessions
    assert q.session_id == s.session_id
    assert dict(q.requested_slots.amounts) == {"cpu": "4", "mem": str(2 * 1024**3)}
    assert (q.attempts, q.pending_reason, q.pending_message) == (3, "no-available-instances", "m")
    assert q.create_time.ToDatetime(tzinfo=UTC) == s.create_time


def test_batch_limits_become_quotas_and_empty_caps_mean_unlimited():
    answer = auth_pb.BatchGetLimitsResponse(
        keypair_policies={
            "AK1": policy_pb.ResourcePolicy(
                max_concurrent_sessions=3,
                default_for_unspecified=policy_pb.DEFAULT_FOR_UNSPECIFIED_LIMITED,
                total_resource_slots=resources_pb2.ResourceSlots(amounts={"cpu": "4"}),
            )
        },
        project_total_resource_slots={
            "p-capped": resources_pb2.ResourceSlots(amounts={"cpu": "10"}),
            "p-free": resources_pb2.ResourceSlots(),
        },
    )
    limits = limits_from_pb(answer)
    assert limits.keypairs["AK1"].max_concurrent_sessions == 3
    assert limits.keypairs["AK1"].total.strict
    assert set(limits.projects) == {"p-capped"}
    assert limits.projects["p-capped"].amounts["cpu"] == 10


def test_architecture_and_images_travel_with_agents_and_pending_sessions():
    agent = _agent_pb("a1")
    agent.architecture, agent.images[:] = "arm64", ["cr/x:1", "cr/y:2"]
    pending = reg_pb.PendingSession(
        session_id="s1", image="cr/x:1", architectures=["amd64", "arm64"]
    )
    agent_change = registry_convert.change_from_pb(reg_pb.WatchClusterStateResponse(agent=agent))
    assert isinstance(agent_change, AgentChanged)
    assert agent_change.agent.architecture == "arm64"
    assert agent_change.agent.images == frozenset({"cr/x:1", "cr/y:2"})
    s = registry_convert.session_from_pb(pending)
    assert (s.image, s.architectures) == ("cr/x:1", frozenset({"amd64", "arm64"}))
