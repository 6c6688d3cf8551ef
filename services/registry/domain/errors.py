"""Registry errors, each with a stable reason clients can branch on."""

from __future__ import annotations

from libs.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)


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


class ResourceGroupNotFound(NotFound):
    reason = "RESOURCE_GROUP_NOT_FOUND"


class ResourceGroupExists(AlreadyExists):
    reason = "RESOURCE_GROUP_EXISTS"


class ResourceGroupInUse(FailedPrecondition):
    reason = "RESOURCE_GROUP_IN_USE"


class ResourceGroupInactive(FailedPrecondition):
    reason = "RESOURCE_GROUP_INACTIVE"


class ImageNotFound(NotFound):
    reason = "IMAGE_NOT_FOUND"


class ImageAliasExists(AlreadyExists):
    reason = "IMAGE_ALIAS_EXISTS"


class ImageAliasNotFound(NotFound):
    reason = "IMAGE_ALIAS_NOT_FOUND"


class ContainerRegistryNotFound(NotFound):
    reason = "CONTAINER_REGISTRY_NOT_FOUND"


class ContainerRegistryExists(AlreadyExists):
    reason = "CONTAINER_REGISTRY_EXISTS"


class RescanTaskNotFound(NotFound):
    reason = "RESCAN_TASK_NOT_FOUND"


class BelowImageMinimum(InvalidArgument):
    reason = "BELOW_IMAGE_MINIMUM"
