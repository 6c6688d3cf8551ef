"""One agent report applied to its kernel, already locked with its session and siblings.

The step the one-event and the batched paths share (`lifecycle_store.py`,
`kernel_report_batch.py`), on rows locked as plain objects (`row_state.py`): the transition
table decides, the session's status is re-derived from its kernels, and what to stage is
returned to the caller, which writes the rows and stages it in the same transaction (rule
R-OUTBOX) after recomputing the occupancy of the agent a dead kernel frees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from shipyard.registry.v1 import user_event_service_pb2 as user_pb

from services.registry.adapters.row_state import KernelState, SessionState
from services.registry.adapters.rows import (
    agent_from_row,
    refresh_session_status,
    set_kernel_status,
)
from services.registry.adapters.tables import AgentRow
from services.registry.adapters.user_events import kernel_user_event
from services.registry.domain.model import DEAD_STATUSES, Status
from services.registry.domain.transitions import reported_kernel_status
from services.registry.service.ports import SessionChange

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KernelMove:
    change: SessionChange | None  # None: the kernel did not move
    shown: user_pb.WatchEventsResponse | None  # the kernel's user event, to stage
    freed_agent: str | None  # the agent whose occupancy the move changed (a kernel ended)


def placed_on(kernel: KernelState, agent_id: str, new: Status) -> bool:
    """Only the kernel's own agent reports on it (rule R-EVENT-SOURCE)."""
    if agent_id and kernel.agent_id == agent_id:
        return True
    log.warning(
        "refused a %s report on kernel %s from agent %r: it is placed on %r",
        new.value,
        kernel.id,
        agent_id,
        kernel.agent_id,
    )
    return False


def move_kernel(
    session: SessionState,
    kernels: list[KernelState],
    kernel: KernelState,
    new: Status,
    *,
    reason: str,
    exit_code: int | None,
    message: str,
    now: datetime,
    has_event_id: bool,
) -> KernelMove:
    target = reported_kernel_status(Status(kernel.status), new)
    data = {"error": {"src": "agent", "repr": message}} if message else None
    moved = set_kernel_status(
        kernel, target, reason=reason, now=now, data=data, exit_code=exit_code
    )
    # Reported by the kernel's agent for the first time: its owner sees it even when the
    # kernel's status does not move (creating while PREPARING).
    shown = kernel_user_event(
        session, kernel, target, reason=reason, exit_code=exit_code, message=message, now=now
    )
    if not moved:
        first = shown is not None and has_event_id and Status(kernel.status) is target
        return KernelMove(None, shown if first else None, None)
    status = refresh_session_status(session, kernels, reason=reason, now=now)
    change = SessionChange(session_id=session.id, status=status, status_info=reason)
    freed = kernel.agent_id if target in DEAD_STATUSES else None
    return KernelMove(change, shown, freed)


def with_agents(change: SessionChange, agents: list[AgentRow]) -> SessionChange:
    return replace(change, agents=tuple(agent_from_row(a) for a in agents))
