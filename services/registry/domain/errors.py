"""Registry errors, each with a stable reason clients can branch on."""

from __future__ import annotations

from libs.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable


class SessionNotFound(NotFound):
    reason = "SESSION_NOT_FOUND"


class SessionNotRunning(FailedPrecondition):
    reason = "SESSION_NOT_RUNNING"


class SessionNotDestroyable(FailedPrecondition):
    reason = "SESSION_NOT_DESTROYABLE"


class SessionNameInUse(FailedPrecondition):
    reason = "SESSION_NAME_IN_USE"


class InvalidResources(InvalidArgument):
    reason = "INVALID_RESOURCES"


class InvalidPageToken(InvalidArgument):
    reason = "INVALID_PAGE_TOKEN"


class AgentNotFound(NotFound):
    reason = "AGENT_NOT_FOUND"


class AgentUnavailable(Unavailable):
    reason = "AGENT_UNAVAILABLE"
