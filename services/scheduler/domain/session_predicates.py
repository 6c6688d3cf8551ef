"""Session predicates with reasons and numbers: start time, session type, image maximum.

Each is a `SessionPredicate` (see predicates.py): None when the session may be scheduled now,
else a message a user can act on. Dependencies live in dependencies.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from services.scheduler.domain.model import PendingSession
from services.scheduler.domain.shortage import format_amount

BATCH = "batch"


class ReservedStartTime:
    """A batch session with `starts_at` in the future waits until then (timezone-aware)."""

    name = "reserved-time"

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def __call__(self, session: PendingSession) -> str | None:
        if session.session_type != BATCH or session.starts_at is None:
            return None
        now = self._now()
        if now >= session.starts_at:
            return None
        wait = int((session.starts_at - now).total_seconds())
        return f"starts at {session.starts_at.isoformat()} (in {max(wait, 1)} s)"


class SessionTypeAllowed:
    """A resource group may admit only some session types (its allowed_session_types)."""

    name = "session-type"

    def __init__(self, allowed_for: Callable[[str], Collection[str]]) -> None:
        # Empty collection = every type is allowed.
        self._allowed_for = allowed_for

    def __call__(self, session: PendingSession) -> str | None:
        allowed = self._allowed_for(session.resource_group)
        if not allowed or session.session_type in allowed:
            return None
        return (
            f"resource group '{session.resource_group}' does not run {session.session_type} "
            f"sessions (allowed: {', '.join(sorted(allowed))})"
        )


class ImageMaxSlots:
    """No kernel may ask more than its image's `ai.backend.resource.max.*`."""

    name = "image-max-slots"

    def __call__(self, session: PendingSession) -> str | None:
        limits = session.image_max
        if not limits:
            return None
        over: list[str] = []
        for kernel in session.kernels:
            for slot in sorted(kernel.requested):
                if slot in set(limits) and kernel.requested[slot] > limits[slot]:
                    over.append(
                        f"{slot} {format_amount(slot, kernel.requested[slot])} > "
                        f"{format_amount(slot, limits[slot])}"
                    )
            if over:
                break
        if not over:
            return None
        return f"a kernel asks more than the image allows ({', '.join(over)})"
