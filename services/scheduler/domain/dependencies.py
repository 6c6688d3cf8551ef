"""Dependencies: a session waits until every session it names TERMINATED successfully.

A dependency that failed, was cancelled or ended without success can never succeed, so the
dependent session is cancelled with reason `dependency-failed` instead of waiting forever.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.scheduler.domain.model import PendingSession

DEPENDENCY_FAILED = "dependency-failed"


class Outcome(enum.Enum):
    RUNNING = "running"  # not finished yet (pending, running, terminating)
    SUCCEEDED = "succeeded"  # TERMINATED with success
    FAILED = "failed"  # TERMINATED unsuccessfully, CANCELLED, or gone


@dataclass(frozen=True, slots=True, kw_only=True)
class Dependency:
    session_id: str
    name: str
    outcome: Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyVerdict:
    ready: bool
    cancel: bool = False
    message: str = ""


def judge(session: PendingSession, known: Mapping[str, Dependency]) -> DependencyVerdict:
    """Ready when all succeeded; cancel when one failed; else wait, saying on how many."""
    if not session.dependencies:
        return DependencyVerdict(ready=True)
    waiting: list[Dependency] = []
    for dep_id in session.dependencies:
        dep = known.get(dep_id)
        if dep is None or dep.outcome is Outcome.FAILED:
            label = _label(dep) if dep is not None else dep_id
            return DependencyVerdict(
                ready=False,
                cancel=True,
                message=f"dependency {label} did not finish successfully",
            )
        if dep.outcome is Outcome.RUNNING:
            waiting.append(dep)
    if not waiting:
        return DependencyVerdict(ready=True)
    total = len(session.dependencies)
    names = ", ".join(_label(d) for d in waiting)
    return DependencyVerdict(
        ready=False,
        message=f"waiting for {len(waiting)} of {total} dependencies to succeed: {names}",
    )


class DependenciesMet:
    """The waiting half as a session predicate; cancellations go through `judge` directly."""

    name = "dependencies"

    def __init__(self, known: Callable[[], Mapping[str, Dependency]]) -> None:
        self._known = known

    def __call__(self, session: PendingSession) -> str | None:
        verdict = judge(session, self._known())
        return None if verdict.ready else verdict.message


def _label(dep: Dependency) -> str:
    return f"{dep.name} ({dep.session_id})" if dep.name else dep.session_id
