"""The explicit status transition tables (Backend.AI's lifecycle, on Shipyard's statuses).

Every status write goes through `can_transit` under a row lock, so duplicate or late events
(a `started` after a cancel, a second `terminated`) are no-ops instead of corruption.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.registry.domain.model import DEAD_STATUSES, Status

_FAILED = frozenset({Status.CANCELLED, Status.ERROR})
_ENDING = frozenset({Status.TERMINATING}) | _FAILED

# One table for kernels and sessions, listing only real moves. A kernel reaches RUNNING only from
# PREPARING or PULLING, i.e. after the starter claimed it and its agent began creating it (rule
# R-AGENT-EVENTS): PENDING and SCHEDULED cannot jump there. Backend.AI's session table forbids
# SCHEDULED/PREPARING → CANCELLED and then bypasses it when a start fails (rule R-FAILED-START);
# here a failed start is an ordinary, checked transition, which leaves the two tables identical.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.SCHEDULED}) | _FAILED,
    Status.SCHEDULED: frozenset({Status.PREPARING}) | _ENDING,
    Status.PREPARING: frozenset({Status.PULLING, Status.RUNNING}) | _ENDING,
    Status.PULLING: frozenset({Status.PREPARING, Status.RUNNING}) | _ENDING,
    Status.RUNNING: frozenset(
        {Status.RESTARTING, Status.TERMINATING, Status.TERMINATED, Status.ERROR}
    ),
    # Sessions only (kernel rows stay RUNNING while their runners restart).
    Status.RESTARTING: frozenset(
        {Status.RUNNING, Status.TERMINATING, Status.TERMINATED, Status.ERROR}
    ),
    Status.TERMINATING: frozenset({Status.TERMINATED, Status.ERROR}),
    Status.TERMINATED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.ERROR: frozenset(),
}
# Kernels that never ran: an end reported for them means their start did not happen.
NOT_STARTED = frozenset({Status.PENDING, Status.SCHEDULED, Status.PULLING, Status.PREPARING})


def kernel_can_transit(current: Status, new: Status) -> bool:
    return new in TRANSITIONS[current]


def session_can_transit(current: Status, new: Status) -> bool:
    return new in TRANSITIONS[current]


def derive_session_status(main: Status, siblings: Iterable[Status]) -> Status:
    """A session's status from its main kernel's, adjusted by the other kernels.

    RUNNING and TERMINATED are "following" states: they hold only when every kernel got
    there; any other main-kernel status leads the session on its own.
    """
    others = list(siblings)
    if main is Status.RUNNING:
        if any(s is Status.PULLING for s in others):
            return Status.PULLING
        if any(s in (Status.PENDING, Status.SCHEDULED, Status.PREPARING) for s in others):
            return Status.PREPARING
        if any(s in (Status.TERMINATING, Status.ERROR) for s in others):
            return Status.TERMINATING
        return Status.RUNNING
    if main is Status.TERMINATED:
        if any(s is Status.ERROR for s in others):
            return Status.ERROR
        if any(s not in DEAD_STATUSES for s in others):
            return Status.TERMINATING
        return Status.TERMINATED
    return main


def reported_kernel_status(current: Status, reported: Status) -> Status:
    """What an agent's report means for a kernel: "terminated" for one that never ran means
    its start was cancelled."""
    if reported is Status.TERMINATED and current in NOT_STARTED:
        return Status.CANCELLED
    return reported


def lost_kernel_status(current: Status) -> Status:
    """Where a kernel ends when its agent is gone: a running one has terminated, one that was
    still starting is in error."""
    if current in (Status.RUNNING, Status.TERMINATING):
        return Status.TERMINATED
    return Status.ERROR
