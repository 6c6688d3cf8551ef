"""The registry's SchedulingService messages ⇄ the scheduler's domain model."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC
from typing import TypeVar

from shipyard.registry.v1 import scheduling_service_pb2 as pb
from shipyard.registry.v1 import session_service_pb2 as session_pb
from shipyard.type.v1 import resources_pb2

from libs.core.errors import InvalidArgument
from libs.core.slots import ResourceSlots
from services.scheduler.domain.model import (
    ActiveSession,
    Agent,
    AgentChanged,
    BindResult,
    ClusterChange,
    ClusterSnapshot,
    PendingKernel,
    PendingSession,
    Placement,
    SessionActive,
    SessionEnded,
    SessionPending,
    SessionRemoved,
    Unschedulable,
)

log = logging.getLogger(__name__)

_M = TypeVar("_M")
_D = TypeVar("_D")


def change_from_pb(msg: pb.WatchClusterStateResponse) -> ClusterChange | None:
    """None for a change this scheduler cannot use (unknown kind, malformed slots)."""
    kind = msg.WhichOneof("change")
    try:
        if kind == "snapshot":
            return ClusterSnapshot(
                agents=tuple(_valid(agent_from_pb, msg.snapshot.agents)),
                pending=tuple(_valid(session_from_pb, msg.snapshot.pending_sessions)),
                active=tuple(_valid(active_from_pb, msg.snapshot.active_sessions)),
            )
        if kind == "agent":
            return AgentChanged(agent=agent_from_pb(msg.agent))
        if kind == "session_pending":
            return SessionPending(session=session_from_pb(msg.session_pending))
        if kind == "session_removed":
            return SessionRemoved(session_id=msg.session_removed)
        if kind == "session_active":
            return SessionActive(session=active_from_pb(msg.session_active))
        if kind == "session_ended":
            return SessionEnded(session_id=msg.session_ended)
    except InvalidArgument as exc:
        log.warning("skipping a malformed watch change: %s", exc.message)
    return None


def _valid(convert: Callable[[_M], _D], items: Iterable[_M]) -> Iterable[_D]:
    # One malformed item must not poison the whole snapshot (we would resync forever).
    for item in items:
        try:
            yield convert(item)
        except InvalidArgument as exc:
            log.warning("skipping a malformed snapshot item: %s", exc.message)


def agent_from_pb(msg: pb.AgentState) -> Agent:
    return Agent(
        agent_id=msg.agent_id,
        alive=msg.alive,
        resource_group=msg.resource_group,
        available=slots_from_pb(msg.available_slots),
        occupied=slots_from_pb(msg.occupied_slots),
        architecture=msg.architecture,
        images=frozenset(msg.images),
        backend=msg.backend,
    )


def session_from_pb(msg: pb.PendingSession) -> PendingSession:
    return PendingSession(
        session_id=msg.session_id,
        access_key=msg.access_key,
        resource_group=msg.resource_group,
        create_time=msg.create_time.ToDatetime(tzinfo=UTC),
        kernels=tuple(
            PendingKernel(kernel_id=k.kernel_id, requested=slots_from_pb(k.requested_slots))
            for k in msg.kernels
        ),
        trace_context=dict(msg.trace_context),
        owner_user_id=msg.owner_user_id,
        project_id=msg.project_id,
        domain_name=msg.domain_name,
        image=msg.image,
        architectures=frozenset(msg.architectures),
        single_node=msg.cluster_mode != session_pb.CLUSTER_MODE_MULTI_NODE,
        session_type=msg.session_type or "interactive",
        priority=msg.priority,
        preemptible=msg.preemptible,
        starts_at=msg.starts_at.ToDatetime(tzinfo=UTC) if msg.HasField("starts_at") else None,
        dependencies=tuple(sorted(msg.dependencies)),
        dependency_outcomes=dict(msg.dependencies),
        expected_duration=float(msg.expected_duration_seconds),
    )


def active_from_pb(msg: pb.ActiveSession) -> ActiveSession:
    return ActiveSession(
        session_id=msg.session_id,
        access_key=msg.access_key,
        project_id=msg.project_id,
        domain_name=msg.domain_name,
        slots=slots_from_pb(msg.occupied_slots),
        resource_group=msg.resource_group,
        owner_user_id=msg.owner_user_id,
        priority=msg.priority,
        preemptible=msg.preemptible,
        since=msg.since.ToDatetime(tzinfo=UTC) if msg.HasField("since") else None,
        slots_by_agent={a: slots_from_pb(s) for a, s in msg.slots_by_agent.items()},
        expected_duration=float(msg.expected_duration_seconds),
    )


def slots_from_pb(msg: resources_pb2.ResourceSlots) -> ResourceSlots:
    return _parsed(tuple(msg.amounts.items()))


@functools.lru_cache(maxsize=4096)
def _parsed(amounts: tuple[tuple[str, str], ...]) -> ResourceSlots:
    """A batch bind echoes ~1,000 agents and sessions back, most with the same few slot maps:
    each is parsed (and validated) once (ResourceSlots is immutable, so it may be shared)."""
    return ResourceSlots.parse(dict(amounts))


def bind_request_to_pb(
    scheduler_id: str, placements: Sequence[Placement], unschedulable: Sequence[Unschedulable]
) -> pb.BindSessionsRequest:
    return pb.BindSessionsRequest(
        scheduler_id=scheduler_id,
        placements=[
            pb.SessionPlacement(
                session_id=p.session_id,
                kernels=[
                    pb.KernelPlacement(kernel_id=k.kernel_id, agent_id=k.agent_id)
                    for k in p.kernels
                ],
                max_concurrent_sessions=p.max_concurrent_sessions,
            )
            for p in placements
        ],
        unschedulable=[
            pb.Unschedulable(session_id=u.session_id, reason=u.reason, message=u.message)
            for u in unschedulable
        ],
    )


def bind_results_from_pb(msg: pb.BindSessionsResponse) -> list[BindResult]:
    return [
        BindResult(session_id=r.session_id, bound=r.bound, conflict_reason=r.conflict_reason)
        for r in msg.results
    ]
