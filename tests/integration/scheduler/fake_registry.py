"""An in-process SchedulingService that behaves like the registry's scheduling side."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import grpc
from shipyard.registry.v1 import scheduling_service_pb2 as pb
from shipyard.registry.v1 import scheduling_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import resources_pb2

_BREAK = object()


class FakeSchedulingService(pb_grpc.SchedulingServiceServicer):
    """Serves a snapshot, then queued changes; binds while capacity lasts, like the registry.

    A bound placement is answered, then published as the agent's new occupancy followed by
    the session's removal, the order the scheduler relies on.
    """

    def __init__(self, agents: list[pb.AgentState], pending: list[pb.PendingSession]) -> None:
        self.agents = {a.agent_id: a for a in agents}
        self.pending = {s.session_id: s for s in pending}
        self.binds: list[tuple[pb.BindSessionsRequest, dict[str, str]]] = []
        self.conflicts: dict[str, str] = {}
        self.watches = 0
        self._streams: list[asyncio.Queue] = []

    # --- test controls -----------------------------------------------------------------------

    def publish(self, change: pb.WatchClusterStateResponse) -> None:
        for stream in self._streams:
            stream.put_nowait(change)

    def add_pending(self, session: pb.PendingSession) -> None:
        self.pending[session.session_id] = session
        self.publish(pb.WatchClusterStateResponse(session_pending=session))

    def break_watches(self) -> None:
        for stream in self._streams:
            stream.put_nowait(_BREAK)

    def bound_ids(self) -> list[str]:
        return [
            p.session_id
            for request, _ in self.binds
            for p in request.placements
            if p.session_id not in self.pending
        ]

    # --- SchedulingService ---------------------------------------------------------------------

    async def WatchClusterState(self, request, context):
        self.watches += 1
        stream: asyncio.Queue = asyncio.Queue()
        self._streams.append(stream)
        try:
            yield pb.WatchClusterStateResponse(
                snapshot=pb.ClusterSnapshot(
                    agents=list(self.agents.values()),
                    pending_sessions=list(self.pending.values()),
                )
            )
            while True:
                change = await stream.get()
                if change is _BREAK:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "registry restarting")
                yield change
        finally:
            self._streams.remove(stream)

    async def BindSessions(self, request, context):
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        self.binds.append((request, metadata))
        results, published = [], []
        for placement in request.placements:
            reason = self.conflicts.pop(placement.session_id, "")
            if not reason and placement.session_id not in self.pending:
                reason = "session-not-pending"
            if not reason:
                reason = self._commit(placement)
            results.append(
                pb.BindResult(
                    session_id=placement.session_id, bound=not reason, conflict_reason=reason
                )
            )
            if not reason:
                published.append(placement)
        for placement in published:
            for agent_id in {k.agent_id for k in placement.kernels}:
                self.publish(pb.WatchClusterStateResponse(agent=self.agents[agent_id]))
            self.publish(pb.WatchClusterStateResponse(session_removed=placement.session_id))
        return pb.BindSessionsResponse(results=results)

    def _commit(self, placement: pb.SessionPlacement) -> str:
        session = self.pending[placement.session_id]
        requested = {k.kernel_id: k.requested_slots.amounts for k in session.kernels}
        occupied = {aid: _slots(a.occupied_slots) for aid, a in self.agents.items()}
        for kernel in placement.kernels:
            for slot, amount in requested[kernel.kernel_id].items():
                occupied[kernel.agent_id][slot] = occupied[kernel.agent_id].get(
                    slot, Decimal(0)
                ) + Decimal(amount)
        for aid, used in occupied.items():
            available = _slots(self.agents[aid].available_slots)
            if any(v > available.get(k, Decimal(0)) for k, v in used.items()):
                return "agent-capacity-exceeded"
        for aid, used in occupied.items():
            self.agents[aid].occupied_slots.CopyFrom(
                resources_pb2.ResourceSlots(amounts={k: str(v) for k, v in used.items()})
            )
        del self.pending[placement.session_id]
        return ""


def _slots(msg: resources_pb2.ResourceSlots) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in msg.amounts.items()}
