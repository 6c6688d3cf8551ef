"""What a failed start means: whose fault it was, and what happens to the session next.

Rule R-REQUEUE (docs/reliability.md): a start that failed for a reason outside the session
(the agent is unreachable, broken, draining or too busy to start it in time) puts the session
back in the queue with a backoff, a bounded number of times; only the session's own faults
(bad image, bad command, a limit it exceeds) end it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from libs.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ShipyardError,
    Unauthenticated,
)
from services.registry.domain.model import Status

# Why a session ended after too many starts that were not its fault.
START_ATTEMPTS_EXHAUSTED = "start-attempts-exhausted"
# Why a session went back to the queue.
START_REQUEUED = "start-failed-requeued"
# Why a session that could not start by its own fault ended (rule R-FAILED-START).
FAILED_TO_START = "failed-to-start"

# Statuses a start may be in when it fails: the session goes back to PENDING from them.
REQUEUEABLE = frozenset({Status.SCHEDULED, Status.PULLING, Status.PREPARING})

# Errors that say the request itself is wrong: retrying elsewhere would fail the same way.
_SESSION_FAULTS: tuple[type[ShipyardError], ...] = (
    InvalidArgument,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)


class Fault(StrEnum):
    """Whose fault a failed start was."""

    SESSION = "session"  # ends the session
    AGENT = "agent"  # back to the queue; counts against the agent


# The agent's CreateKernels wraps kernel failures in this reason, with the first failure's own
# reason (or exception type) in metadata["cause"].
KERNEL_CREATE_FAILED = "KERNEL_CREATE_FAILED"
# Causes (error reasons, not exception type names such as FileNotFoundError, which an agent's
# own broken state raises) that say the session's request is wrong.
_SESSION_CAUSE_MARKS = ("INVALID", "NOT_FOUND", "FAILED_PRECONDITION", "PERMISSION")


def classify(exc: BaseException) -> Fault:
    """Whose fault `exc`, raised while starting a session on an agent, is."""
    if isinstance(exc, ShipyardError):
        if "DRAIN" in exc.reason.upper():
            return Fault.AGENT  # the agent is leaving; the session may run elsewhere
        if isinstance(exc, _SESSION_FAULTS):
            return Fault.SESSION
        if exc.reason == KERNEL_CREATE_FAILED:
            cause = exc.metadata.get("cause", "").upper()
            if any(mark in cause for mark in _SESSION_CAUSE_MARKS):
                return Fault.SESSION
    # UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED, the start deadline, a
    # crash in the agent: nothing the session could change.
    return Fault.AGENT


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often, and how soon, a session whose start failed is tried again."""

    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=2)
    max_backoff: timedelta = timedelta(seconds=60)

    def exhausted(self, attempts: int) -> bool:
        """True when `attempts` failed starts are all the session gets."""
        return attempts >= self.max_attempts

    def not_before(self, attempts: int, now: datetime) -> datetime:
        """When the session may be placed again after its `attempts`-th failed start."""
        delay: timedelta = self.backoff * (2 ** max(attempts - 1, 0))
        return now + min(delay, self.max_backoff)
