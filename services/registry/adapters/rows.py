"""Row ⇄ domain conversion and the locked status writes every store shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.core.slots import ResourceSlots
from services.registry.adapters.row_state import KernelState, SessionState
from services.registry.adapters.tables import AgentRow, KernelRow, SessionRow
from services.registry.domain.cluster import ClusterMode
from services.registry.domain.model import (
    AGENT_OCCUPYING_STATUSES,
    DEAD_STATUSES,
    Agent,
    AgentStatus,
    Kernel,
    Session,
    SessionScheduling,
    SessionType,
    Status,
)
from services.registry.domain.placement import occupied_by
from services.registry.domain.transitions import (
    derive_session_status,
    kernel_can_transit,
    session_can_transit,
)
from services.registry.domain.utilization import KernelStats
from services.registry.service.ports import KernelTarget


def kernel_from_row(row: KernelRow) -> Kernel:
    return Kernel(
        kernel_id=row.id,
        session_id=row.session_id,
        cluster_role=row.cluster_role,
        status=Status(row.status),
        status_info=row.status_info,
        agent_id=row.agent_id,
        requested_slots=ResourceSlots(row.requested_slots),
        exit_code=row.exit_code,
        agent_address=row.agent_address or "",
        cluster_idx=row.cluster_idx,
        local_rank=row.local_rank,
        cluster_hostname=row.cluster_hostname,
        cluster_address=row.cluster_address,
        stats=KernelStats.from_dict(row.last_stat) if row.last_stat else None,
    )


def session_from_row(row: SessionRow, kernels: Iterable[KernelRow]) -> Session:
    return Session(
        session_id=row.id,
        name=row.name,
        session_type=SessionType(row.session_type),
        image=row.image,
        image_architectures=tuple(row.image_architectures),
        status=Status(row.status),
        status_info=row.status_info,
        status_message=row.status_message,
        owner_user_id=row.owner_user_id,
        access_key=row.access_key,
        domain_name=row.domain_name,
        project_id=row.project_id,
        resource_group=row.resource_group,
        requested_slots=ResourceSlots(row.requested_slots),
        vfolder_names=tuple(m["name"] for m in row.vfolder_mounts),
        client_token=row.client_token or "",
        startup_command=row.startup_command,
        environ=dict(row.environ),
        created_at=row.created_at,
        terminated_at=row.terminated_at,
        trace_context=dict(row.trace_context),
        status_history={k: datetime.fromisoformat(v) for k, v in row.status_history.items()},
        kernels=tuple(kernel_from_row(k) for k in sorted(kernels, key=_cluster_order)),
        expires_at=row.expires_at,
        idle_timeout=row.idle_timeout_seconds,
        owner_created_at=row.owner_created_at,
        cluster_mode=ClusterMode(row.cluster_mode),
        scheduling=SessionScheduling(
            priority=row.priority,
            preemptible=row.preemptible,
            requeue_on_preemption=row.requeue_on_preemption,
            starts_at=row.starts_at,
            dependencies=tuple(row.dependencies or ()),
            expected_duration=row.expected_duration,
        ),
        requeue_on_agent_loss=row.requeue_on_agent_loss,
    )


def _cluster_order(row: KernelRow) -> tuple[bool, int, str]:
    """main1 first, then the subs by rank (docs/cluster-sessions.md)."""
    return (row.cluster_role != "main", row.local_rank, row.id)


def agent_from_row(
    row: AgentRow,
    *,
    slots: Callable[[Mapping[str, str]], ResourceSlots] = ResourceSlots,
    images: tuple[str, ...] | None = None,
) -> Agent:
    """`slots` parses the slot maps (a batch passes a memo: bind_sql.SlotsMemo); `images`,
    when given, replaces the row's (a batch that read them as text decoded them itself)."""
    return Agent(
        agent_id=row.id,
        status=AgentStatus(row.status),
        address=row.address,
        resource_group=row.resource_group,
        available_slots=slots(row.available_slots),
        occupied_slots=slots(row.occupied_slots),
        backend=row.backend,
        last_heartbeat=row.last_heartbeat,
        architecture=row.architecture,
        images=tuple(row.images) if images is None else images,
        schedulable=row.schedulable,
        unschedulable_reason=row.unschedulable_reason,
    )


def set_kernel_status(
    row: KernelRow | KernelState,
    new: Status,
    *,
    reason: str,
    now: datetime,
    data: dict[str, Any] | None = None,
    exit_code: int | None = None,
) -> bool:
    """Apply a kernel transition if the table allows it; False (and no change) otherwise."""
    if not kernel_can_transit(Status(row.status), new):
        return False
    row.status = new.value
    row.status_info = reason
    row.status_changed_at = now
    if data:
        row.status_data = {**row.status_data, **data}
    if exit_code is not None:
        row.exit_code = exit_code
    if new is Status.RUNNING and row.started_at is None:
        row.started_at = now
    if new in DEAD_STATUSES:
        row.terminated_at = now
    return True


def refresh_session_status(
    session: SessionRow | SessionState,
    kernels: Sequence[KernelRow] | Sequence[KernelState],
    *,
    reason: str,
    now: datetime,
) -> Status | None:
    """Derive the session's status from its kernels; return it if the session changed."""
    main = next((k for k in kernels if k.cluster_role == "main"), None)
    if main is None:
        return None
    derived = derive_session_status(
        Status(main.status), [Status(k.status) for k in kernels if k is not main]
    )
    return set_session_status(session, derived, reason=reason, now=now)


def set_session_status(
    session: SessionRow | SessionState,
    new: Status,
    *,
    reason: str,
    now: datetime,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> Status | None:
    if not session_can_transit(Status(session.status), new):
        return None
    session.status = new.value
    session.status_info = reason
    if message is not None:
        session.status_message = message
    session.status_changed_at = now
    session.status_history = {**session.status_history, new.value: now.isoformat()}
    if data:
        session.status_data = {**session.status_data, **data}
    if new in DEAD_STATUSES:
        session.terminated_at = now
    return new


async def lock_session(db: AsyncSession, session_id: str) -> tuple[SessionRow, list[KernelRow]]:
    """SELECT … FOR UPDATE the session, then its kernels in id order (rule R-LOCK-ORDER)."""
    row = (
        await db.execute(select(SessionRow).where(SessionRow.id == session_id).with_for_update())
    ).scalar_one()
    return row, await _lock_kernels(db, session_id)


async def _lock_kernels(db: AsyncSession, session_id: str) -> list[KernelRow]:
    kernels = (
        (
            await db.execute(
                select(KernelRow)
                .where(KernelRow.session_id == session_id)
                .order_by(KernelRow.id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    return list(kernels)


async def recompute_occupancy(db: AsyncSession, agent_ids: Iterable[str]) -> list[AgentRow]:
    """Set each agent's occupied slots from its live kernels (`occupied_by`); agents are
    locked in id order, after any session and kernel rows (rule R-LOCK-ORDER)."""
    changed: list[AgentRow] = []
    for agent_id in sorted(set(agent_ids)):
        agent = (
            await db.execute(select(AgentRow).where(AgentRow.id == agent_id).with_for_update())
        ).scalar_one_or_none()
        if agent is None:
            continue
        rows = (
            await db.execute(
                select(KernelRow.requested_slots).where(
                    KernelRow.agent_id == agent_id,
                    KernelRow.status.in_([s.value for s in AGENT_OCCUPYING_STATUSES]),
                )
            )
        ).scalars()
        agent.occupied_slots = occupied_by([ResourceSlots(s) for s in rows]).to_strings()
        changed.append(agent)
    return changed


async def lock_keypair(db: AsyncSession, access_key: str) -> None:
    """Serialize, until commit, the transactions that count or add one keypair's sessions.

    Taken before any row lock (keypair, then session, kernels, agents), so no deadlock. Under
    READ COMMITTED the counts read after it see every session committed before it was granted.
    """
    key = func.hashtextextended(literal(f"registry.keypair:{access_key}"), 0)
    await db.execute(select(func.pg_advisory_xact_lock(key)))


async def count_sessions(db: AsyncSession, access_key: str, statuses: Iterable[Status]) -> int:
    query = select(func.count()).where(
        SessionRow.access_key == access_key,
        SessionRow.status.in_([s.value for s in statuses]),
    )
    return int((await db.execute(query)).scalar_one())


async def lock_session_or_none(
    db: AsyncSession, session_id: str
) -> tuple[SessionRow, list[KernelRow]] | None:
    exists = (
        await db.execute(select(SessionRow.id).where(SessionRow.id == session_id))
    ).scalar_one_or_none()
    if exists is None:
        return None
    return await lock_session(db, session_id)


def kernel_target(k: KernelRow | KernelState) -> KernelTarget:
    """A kernel and the agent that runs (or will run) it, as the agents are told about it."""
    return KernelTarget(
        kernel_id=k.id,
        session_id=k.session_id,
        agent_id=k.agent_id or "",
        agent_address=k.agent_address or "",
        requested_slots=ResourceSlots(k.requested_slots),
    )
