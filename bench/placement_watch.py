"""The scheduler's side of the watch's echo of one batch bind, in process (bench/placement.py).

After a bind of B sessions on B agents the registry's watch sends each agent's new occupancy
and each session as a slot holder, in batched messages; the scheduler decodes and applies them
(its assumptions give way to what the registry reports). Measured as CPU time per batch.
"""

from __future__ import annotations

import time

from shipyard.registry.v1 import scheduling_service_pb2 as pb
from shipyard.type.v1 import resources_pb2

from libs.core.slots import ResourceSlots
from services.scheduler.adapters import registry_convert as convert
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import (
    Agent,
    ClusterSnapshot,
    KernelPlacement,
    PendingSession,
    Placement,
)

_CAPACITY = {"cpu": "64", "mem": str(256 << 30)}
_REQUEST = {"cpu": "0.25", "mem": str(256 << 20)}


def _echo(placements: list[Placement]) -> bytes:
    changes = [
        pb.WatchClusterStateResponse(
            agent=pb.AgentState(
                agent_id=p.kernels[0].agent_id,
                alive=True,
                resource_group="default",
                available_slots=resources_pb2.ResourceSlots(amounts=_CAPACITY),
                occupied_slots=resources_pb2.ResourceSlots(amounts=_REQUEST),
                backend="simulated",
            )
        )
        for p in placements
    ]
    for p in placements:
        held = resources_pb2.ResourceSlots(amounts=_REQUEST)
        active = pb.ActiveSession(
            session_id=p.session_id,
            access_key="AKBENCH",
            occupied_slots=held,
            resource_group="default",
        )
        active.slots_by_agent[p.kernels[0].agent_id].CopyFrom(held)
        changes.append(pb.WatchClusterStateResponse(session_active=active))
    batch = pb.ClusterChangeBatch(changes=changes)
    return pb.WatchClusterStateResponse(batch=batch).SerializeToString()


def _kernel(session: PendingSession, agent_id: str, slots: ResourceSlots) -> KernelPlacement:
    return KernelPlacement(kernel_id=session.kernels[0].kernel_id, agent_id=agent_id, slots=slots)


def watch_echo_cpu_ms(
    agents: tuple[Agent, ...], sessions: tuple[PendingSession, ...], batch: int = 1000
) -> float:
    """CPU milliseconds for the echo of one bind of `batch` sessions, each on its own agent."""
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=agents, pending=sessions[:batch]))
    request = ResourceSlots(_REQUEST)
    placements = [
        Placement(
            session_id=s.session_id,
            kernels=(
                KernelPlacement(
                    kernel_id=s.kernels[0].kernel_id, agent_id=a.agent_id, slots=request
                ),
            ),
        )
        for s, a in zip(sessions[:batch], agents, strict=False)
    ]
    for placement in placements:
        cache.assume(placement)
        cache.confirm_bound(placement.session_id, now=0.0)
    wire = _echo(placements)
    started = time.process_time()
    msg = pb.WatchClusterStateResponse.FromString(wire)
    for one in msg.batch.changes:
        change = convert.change_from_pb(one)
        if change is not None:
            cache.apply(change)
    elapsed = time.process_time() - started
    assert not any(cache.is_assumed(p.session_id) for p in placements)
    return elapsed * 1e3
