"""Protobuf ⇄ domain for the registry's contracts (pure functions)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.registry.v1 import cluster_service_pb2 as cluster_pb
from shipyard.registry.v1 import scheduling_service_pb2 as sched_pb
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.type.v1 import execution_pb2, resources_pb2

from libs.core.slots import ResourceSlots
from libs.grpcutil.slots_pb import slots_message
from services.registry.api.stats_convert import kernel_stats_pb
from services.registry.domain.cluster import ClusterMode
from services.registry.domain.errors import InvalidPageToken
from services.registry.domain.idle import IdleReport
from services.registry.domain.model import (
    Agent,
    ExecOutcome,
    Kernel,
    Session,
    SessionScheduling,
    SessionType,
    Status,
)
from services.registry.domain.utilization import KernelStats
from services.registry.service.watch_holders import SlotHolder

STATUS_TO_PB = {s: getattr(pb, f"SESSION_STATUS_{s.value}") for s in Status}
STATUS_FROM_PB = {v: k for k, v in STATUS_TO_PB.items()}
TYPE_FROM_PB = {
    pb.SESSION_TYPE_UNSPECIFIED: SessionType.INTERACTIVE,
    pb.SESSION_TYPE_INTERACTIVE: SessionType.INTERACTIVE,
    pb.SESSION_TYPE_BATCH: SessionType.BATCH,
}
TYPE_TO_PB = {
    SessionType.INTERACTIVE: pb.SESSION_TYPE_INTERACTIVE,
    SessionType.BATCH: pb.SESSION_TYPE_BATCH,
}
CLUSTER_MODE_FROM_PB = {
    pb.CLUSTER_MODE_UNSPECIFIED: ClusterMode.SINGLE_NODE,
    pb.CLUSTER_MODE_SINGLE_NODE: ClusterMode.SINGLE_NODE,
    pb.CLUSTER_MODE_MULTI_NODE: ClusterMode.MULTI_NODE,
}
CLUSTER_MODE_TO_PB = {
    ClusterMode.SINGLE_NODE: pb.CLUSTER_MODE_SINGLE_NODE,
    ClusterMode.MULTI_NODE: pb.CLUSTER_MODE_MULTI_NODE,
}
EXEC_STATUS_TO_PB = {
    "finished": execution_pb2.EXECUTION_STATUS_FINISHED,
    "failed": execution_pb2.EXECUTION_STATUS_FAILED,
    "timed_out": execution_pb2.EXECUTION_STATUS_TIMED_OUT,
    "continued": execution_pb2.EXECUTION_STATUS_CONTINUED,
    "waiting_input": execution_pb2.EXECUTION_STATUS_WAITING_INPUT,
}


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def slots_pb(slots: ResourceSlots) -> resources_pb2.ResourceSlots:
    """Shared and read-only (`libs/grpcutil/slots_pb.py`): every use here copies it."""
    return slots_message(slots)


def kernel_pb(kernel: Kernel, live: KernelStats | None = None) -> pb.Kernel:
    msg = pb.Kernel(
        kernel_id=kernel.kernel_id,
        cluster_role=kernel.cluster_role,
        status=STATUS_TO_PB[kernel.status],
        status_info=kernel.status_info,
        agent_id=kernel.agent_id or "",
        requested_slots=slots_pb(kernel.requested_slots),
        exit_code=kernel.exit_code or 0,
        cluster_idx=kernel.cluster_idx,
        local_rank=kernel.local_rank,
        cluster_hostname=kernel.cluster_hostname,
        cluster_address=kernel.cluster_address,
    )
    stats = live or kernel.stats
    if stats is not None:
        msg.stats.CopyFrom(kernel_stats_pb(stats))
    return msg


def session_pb(
    session: Session,
    idle: IdleReport | None = None,
    live: Mapping[str, KernelStats] | None = None,
) -> pb.Session:
    """The session; `idle` and `live` (kernel id → latest stats) add what only Redis knows."""
    live = live or {}
    msg = pb.Session(
        session_id=session.session_id,
        name=session.name,
        session_type=TYPE_TO_PB[session.session_type],
        image=session.image,
        status=STATUS_TO_PB[session.status],
        status_info=session.status_info,
        status_message=session.status_message,
        owner_user_id=session.owner_user_id,
        access_key=session.access_key,
        domain_name=session.domain_name,
        project_id=session.project_id,
        resource_group=session.resource_group,
        requested_slots=slots_pb(session.requested_slots),
        kernels=[kernel_pb(k, live.get(k.kernel_id)) for k in session.kernels],
        vfolder_names=list(session.vfolder_names),
        client_token=session.client_token,
        startup_command=session.startup_command,
        requeue_on_agent_loss=session.requeue_on_agent_loss,
        requeue_on_preemption=session.scheduling.requeue_on_preemption,
        create_time=timestamp(session.created_at),
        cluster_mode=CLUSTER_MODE_TO_PB[session.cluster_mode],
        cluster_size=len(session.kernels),
        priority=session.scheduling.priority,
        preemptible=session.scheduling.preemptible,
        dependencies=list(session.scheduling.dependencies),
        expected_duration_seconds=session.scheduling.expected_duration,
    )
    if session.scheduling.starts_at is not None:
        msg.starts_at.CopyFrom(timestamp(session.scheduling.starts_at))
    for status, when in session.status_history.items():
        msg.status_history[status].CopyFrom(timestamp(when))
    if session.terminated_at is not None:
        msg.terminate_time.CopyFrom(timestamp(session.terminated_at))
    _idle_fields(msg, session, idle or IdleReport())
    return msg


def _idle_fields(msg: pb.Session, session: Session, idle: IdleReport) -> None:
    if session.idle_timeout > 0 and session.session_type is SessionType.INTERACTIVE:
        msg.idle_timeout.FromSeconds(session.idle_timeout)
    if idle.idle_remaining is not None:
        msg.idle_time_remaining.FromTimedelta(idle.idle_remaining)
    if session.expires_at is not None:
        msg.expire_time.CopyFrom(timestamp(session.expires_at))
    if idle.lifetime_remaining is not None:
        msg.lifetime_remaining.FromTimedelta(idle.lifetime_remaining)


def exec_result_pb(outcome: ExecOutcome) -> execution_pb2.ExecutionResult:
    return execution_pb2.ExecutionResult(
        status=EXEC_STATUS_TO_PB.get(outcome.status, execution_pb2.EXECUTION_STATUS_FAILED),
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        exit_code=outcome.exit_code,
        error_name=outcome.error_name,
        error_message=outcome.error_message,
        displays=[
            execution_pb2.DisplayData(data=dict(d.data), result=d.result) for d in outcome.displays
        ],
        truncated=outcome.truncated,
        run_id=outcome.run_id,
        input_request=None
        if outcome.prompt is None
        else execution_pb2.InputRequest(prompt=outcome.prompt, password=outcome.password),
    )


def agent_pb(agent: Agent) -> cluster_pb.Agent:
    msg = cluster_pb.Agent(
        agent_id=agent.agent_id,
        status=cluster_pb.Agent.STATUS_ALIVE
        if agent.status.value == "ALIVE"
        else cluster_pb.Agent.STATUS_LOST,
        address=agent.address,
        resource_group=agent.resource_group,
        available_slots=slots_pb(agent.available_slots),
        occupied_slots=slots_pb(agent.occupied_slots),
        backend=agent.backend,
        architecture=agent.architecture,
        images=list(agent.images),
        schedulable=agent.schedulable,
        unschedulable_reason=agent.unschedulable_reason,
    )
    if agent.last_heartbeat is not None:
        msg.last_heartbeat_time.CopyFrom(timestamp(agent.last_heartbeat))
    return msg


def agent_state_pb(agent: Agent) -> sched_pb.AgentState:
    return sched_pb.AgentState(
        agent_id=agent.agent_id,
        alive=agent.takes_work,
        resource_group=agent.resource_group,
        available_slots=slots_pb(agent.available_slots),
        occupied_slots=slots_pb(agent.occupied_slots),
        architecture=agent.architecture,
        images=list(agent.images),
        backend=agent.backend,
        schedulable=agent.schedulable,
        unschedulable_reason=agent.unschedulable_reason,
    )


def pending_pb(
    session: Session, dependencies: Mapping[str, str] | None = None
) -> sched_pb.PendingSession:
    """`dependencies`: each dependency's outcome ("running", "succeeded", "failed")."""
    msg = sched_pb.PendingSession(
        session_id=session.session_id,
        access_key=session.access_key,
        resource_group=session.resource_group,
        create_time=timestamp(session.created_at),
        kernels=[
            sched_pb.PendingKernel(
                kernel_id=k.kernel_id, requested_slots=slots_pb(k.requested_slots)
            )
            for k in session.kernels
        ],
        trace_context=dict(session.trace_context),
        owner_user_id=session.owner_user_id,
        project_id=session.project_id,
        domain_name=session.domain_name,
        image=session.image,
        architectures=list(session.image_architectures),
        cluster_mode=CLUSTER_MODE_TO_PB[session.cluster_mode],
        session_type=session.session_type.value.lower(),
        priority=session.scheduling.priority,
        preemptible=session.scheduling.preemptible,
        dependencies=dict(dependencies or {}),
        expected_duration_seconds=session.scheduling.expected_duration,
    )
    if session.scheduling.starts_at is not None:
        msg.starts_at.CopyFrom(timestamp(session.scheduling.starts_at))
    return msg


def active_pb(holder: SlotHolder) -> sched_pb.ActiveSession:
    msg = sched_pb.ActiveSession(
        session_id=holder.session_id,
        access_key=holder.access_key,
        project_id=holder.project_id,
        domain_name=holder.domain_name,
        occupied_slots=slots_pb(holder.requested_slots),
        resource_group=holder.resource_group,
        owner_user_id=holder.owner_user_id,
        priority=holder.priority,
        preemptible=holder.preemptible,
        expected_duration_seconds=holder.expected_duration,
    )
    for agent_id, slots in holder.slots_by_agent.items():
        msg.slots_by_agent[agent_id].CopyFrom(slots_pb(slots))
    if holder.scheduled_at is not None:
        msg.since.CopyFrom(timestamp(holder.scheduled_at))
    return msg


def encode_page_token(cursor: tuple[datetime, str] | None) -> str:
    if cursor is None:
        return ""
    raw = json.dumps([cursor[0].isoformat(), cursor[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_page_token(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        created, session_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(created), str(session_id)
    except (ValueError, TypeError) as exc:
        raise InvalidPageToken("page_token is not a token this service issued") from exc


def scheduling_from_pb(request: pb.CreateSessionRequest) -> SessionScheduling:
    return SessionScheduling(
        priority=request.priority,
        preemptible=request.preemptible,
        requeue_on_preemption=request.requeue_on_preemption,
        starts_at=request.starts_at.ToDatetime(tzinfo=UTC)
        if request.HasField("starts_at")
        else None,
        dependencies=tuple(request.dependencies),
        expected_duration=request.expected_duration_seconds,
    )
