"""Dependencies: a session waits until every session it names TERMINATED successfully.

The registry sends each pending session with its dependencies' outcomes ("running",
"succeeded", "failed") and sends it again when one of them ends. A dependency that failed, was
cancelled or is gone can never succeed, so the dependent session is cancelled with reason
`dependency-failed` instead of waiting forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.scheduler.domain.model import PendingSession

DEPENDENCY_FAILED = "dependency-failed"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyVerdict:
    ready: bool
    cancel: bool = False
    message: str = ""


def judge(session: PendingSession) -> DependencyVerdict:
    """Ready when all succeeded; cancel when one failed; else wait, saying on how many."""
    if not session.dependencies:
        return DependencyVerdict(ready=True)
    outcomes = session.dependency_outcomes
    failed = [d for d in session.dependencies if outcomes.get(d, FAILED) == FAILED]
    if failed:
        return DependencyVerdict(
            ready=False,
            cancel=True,
            message=f"dependency {failed[0]} did not finish successfully",
        )
    waiting = [d for d in session.dependencies if outcomes.get(d) != SUCCEEDED]
    if not waiting:
        return DependencyVerdict(ready=True)
    return DependencyVerdict(
        ready=False,
        message=(
            f"waiting for {len(waiting)} of {len(session.dependencies)} dependencies to "
            f"succeed: {', '.join(waiting)}"
        ),
    )


class DependenciesMet:
    """The waiting half as a session predicate; cancellations go through `judge` directly."""

    name = "dependencies"

    def __call__(self, session: PendingSession) -> str | None:
        verdict = judge(session)
        return None if verdict.ready else verdict.message
