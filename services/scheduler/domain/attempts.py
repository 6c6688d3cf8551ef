"""What the cycle remembers of a pending session's failed attempts and the notes it sent."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, kw_only=True)
class AttemptRecord:
    """Failed attempts of one pending session, and the last note sent to the registry."""

    attempts: int = 0
    last_reason: str = ""
    last_message: str = ""
    noted_reason: str = ""
    noted_message: str = ""
    noted_at: float | None = None

    def record(self, reason: str, message: str) -> None:
        self.attempts += 1
        self.last_reason = reason
        self.last_message = message

    def needs_note(
        self, reason: str, message: str, *, now: float, interval: float, message_interval: float
    ) -> bool:
        """A new reason costs the registry a write at once; a new message for the same reason
        (e.g. "largest free" after any occupancy change) at most every `message_interval`;
        an unchanged note a periodic refresh every `interval`."""
        if reason != self.noted_reason or self.noted_at is None:
            return True
        elapsed = now - self.noted_at
        if message != self.noted_message:
            return elapsed >= message_interval
        return elapsed >= interval

    def noted(self, reason: str, message: str, *, now: float) -> None:
        self.noted_reason, self.noted_message, self.noted_at = reason, message, now
