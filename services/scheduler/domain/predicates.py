"""Predicates: which agents may host a kernel, and whether a session may be scheduled now.

Agent predicates filter candidates (the Kubernetes "filter" step). Session predicates gate a
session as a whole (session_predicates.py, dependencies.py); the tenant limits are checked
separately (limits.py) because they need the usage of the whole cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from typing_extensions import override

from services.scheduler.domain.model import Agent, PendingKernel, PendingSession
from services.scheduler.domain.session_predicates import ImageMaxSlots, ReservedStartTime


class AgentPredicate(Protocol):
    """May read the session's resource group, image and requests only: a cycle reuses a
    verdict for sessions that agree on those (placement.fit_key); widen fit_key for anything
    else."""

    name: str

    def __call__(self, session: PendingSession, kernel: PendingKernel, agent: Agent) -> bool:
        """True when `agent` may host `kernel` of `session`."""
        ...


class SessionPredicate(Protocol):
    name: str

    def __call__(self, session: PendingSession) -> str | None:
        """None when the session may be scheduled now, else a message saying why not."""
        ...


class ResourceGroupMatches(AgentPredicate):
    name = "resource-group"

    @override
    def __call__(self, session: PendingSession, kernel: PendingKernel, agent: Agent) -> bool:
        return agent.resource_group == session.resource_group


class AgentAlive(AgentPredicate):
    name = "agent-alive"

    @override
    def __call__(self, session: PendingSession, kernel: PendingKernel, agent: Agent) -> bool:
        return agent.alive


class CapacityFits(AgentPredicate):
    name = "capacity-fits"

    @override
    def __call__(self, session: PendingSession, kernel: PendingKernel, agent: Agent) -> bool:
        return agent.fits(kernel)


class ArchitectureMatches(AgentPredicate):
    """An agent runs only images built for its architecture."""

    name = "architecture"

    @override
    def __call__(self, session: PendingSession, kernel: PendingKernel, agent: Agent) -> bool:
        return not session.architectures or agent.architecture in session.architectures


class ImageRunnable(AgentPredicate):
    """Process-backend agents run only the images they report; container agents pull."""

    name = "image"

    @override
    def __call__(self, session: PendingSession, kernel: PendingKernel, agent: Agent) -> bool:
        return agent.can_run(session.image)


DEFAULT_AGENT_PREDICATES: tuple[AgentPredicate, ...] = (
    ResourceGroupMatches(),
    ArchitectureMatches(),
    ImageRunnable(),
    AgentAlive(),
    CapacityFits(),
)
DEFAULT_SESSION_PREDICATES: tuple[SessionPredicate, ...] = (
    ReservedStartTime(lambda: datetime.now(UTC)),
    ImageMaxSlots(),
)


def failed_session_predicates(
    session: PendingSession, predicates: Sequence[SessionPredicate]
) -> list[str]:
    """Messages of the predicates that fail, as "name: message"."""
    failures: list[str] = []
    for predicate in predicates:
        message = predicate(session)
        if message is not None:
            failures.append(f"{predicate.name}: {message}")
    return failures
