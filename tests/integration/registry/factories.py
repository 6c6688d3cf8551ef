from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from libs.core.ids import new_id
from libs.core.slots import ResourceSlots
from services.registry.domain.cluster import ClusterMode, cluster_layout
from services.registry.domain.model import SessionType
from services.registry.service.ports import AgentRegistration, NewKernel, NewSession


def new_session(
    *,
    cpu: str = "1",
    mem: str = "1000",
    token: str = "",
    access_key: str = "",
    owner_user_id: str = "",
) -> NewSession:
    sid = new_id()
    return NewSession(
        session_id=sid,
        name=f"s-{sid[:8]}",
        session_type=SessionType.INTERACTIVE,
        image="python:3.11",
        owner_user_id=owner_user_id or new_id(),
        access_key=access_key or f"AK{sid[:8]}",
        domain_name="default",
        project_id="p",
        resource_group="default",
        mounts=(),
        client_token=token,
        startup_command="",
        environ={},
        trace_context={},
        kernels=(
            NewKernel(
                kernel_id=new_id(),
                cluster_role="main",
                requested_slots=ResourceSlots({"cpu": cpu, "mem": mem}),
            ),
        ),
        created_at=datetime.now(UTC),
    )


def registration(
    agent_id: str, *, cpu: str = "4", mem: str = "4000", live: tuple[str, ...] = ()
) -> AgentRegistration:
    return AgentRegistration(
        agent_id=agent_id,
        address="127.0.0.1:1",
        resource_group="default",
        available_slots=ResourceSlots({"cpu": cpu, "mem": mem}),
        backend="process",
        live_kernel_ids=live,
    )


def cluster_kernels(size: int) -> tuple[NewKernel, ...]:
    """`size` kernels (a main and its subs), 1 cpu each."""
    return tuple(
        NewKernel(
            kernel_id=new_id(),
            cluster_role=p.role,
            cluster_idx=p.idx,
            local_rank=p.local_rank,
            requested_slots=ResourceSlots({"cpu": "1", "mem": "1000"}),
        )
        for p in cluster_layout(size)
    )


def cluster_session(size: int) -> NewSession:
    """A multi-node session of `size` kernels."""
    kernels = cluster_kernels(size)
    return dataclasses.replace(new_session(), kernels=kernels, cluster_mode=ClusterMode.MULTI_NODE)
