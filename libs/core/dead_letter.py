"""A dead letter: an event a consumer group gave up on (parked by libs.events.dead_letters)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeadLetter:
    entry_id: str  # its id in the dead-letter stream (milliseconds-sequence: when it was parked)
    event_id: str
    source_entry_id: str
    error: str
    failures: int
    size_bytes: int

    @property
    def parked_ms(self) -> int:
        return int(self.entry_id.split("-", 1)[0])
