"""How a dependency session turned out, as a dependent session waiting on it sees it."""

from __future__ import annotations

from services.registry.domain.model import DEAD_STATUSES, Status

RUNNING = "running"  # not finished yet
SUCCEEDED = "succeeded"  # TERMINATED, and the main kernel exited 0 (or had no exit code)
FAILED = "failed"  # CANCELLED, ERROR, TERMINATED with a non-zero exit code, or gone


def outcome(status: Status, main_exit_code: int | None) -> str:
    if status not in DEAD_STATUSES:
        return RUNNING
    if status is Status.TERMINATED and not main_exit_code:
        return SUCCEEDED
    return FAILED
