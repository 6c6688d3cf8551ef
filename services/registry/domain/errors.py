"""Registry errors, each with a stable reason clients can branch on."""

from __future__ import annotations

from libs.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
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


class ProjectNotFound(NotFound):
    """A project the caller may not use (not a member, or no such project: no existence leak)."""

    reason = "PROJECT_NOT_FOUND"

    @classmethod
    def named(cls, project_id: str) -> ProjectNotFound:
        return cls(
            f"project {project_id!r} not found",
            violations=[FieldViolation("project_id", "not a project you are a member of")],
            metadata={"project_id": project_id},
        )


class ResourceGroupNotFound(NotFound):
    reason = "RESOURCE_GROUP_NOT_FOUND"

    @classmethod
    def named(cls, group: str) -> ResourceGroupNotFound:
        return cls(
            f"resource group {group!r} not found or not allowed for you",
            violations=[FieldViolation("resource_group", "not a resource group you may use")],
            metadata={"resource_group": group},
        )


class PolicyLimitExceeded(InvalidArgument):
    """A request the keypair's resource policy can never allow (e.g. too many containers)."""

    reason = "POLICY_LIMIT_EXCEEDED"


class PendingSessionLimit(ResourceExhausted):
    """The keypair already has max_pending_sessions sessions waiting in the queue."""

    reason = "PENDING_SESSION_LIMIT"


class TenantInactive(PermissionDenied):
    """The caller's user, keypair or domain was deactivated after the edge let the call in."""

    reason = "TENANT_INACTIVE"


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


class InvalidUsagePeriod(InvalidArgument):
    reason = "INVALID_USAGE_PERIOD"

    @classmethod
    def of(cls, field: str, why: str) -> InvalidUsagePeriod:
        return cls(f"{field}: {why}", violations=[FieldViolation(field, why)])


class UsageNotVisible(NotFound):
    """A usage filter naming someone outside the caller's reach: reported like an unknown
    user or domain, so that other tenants cannot be probed (docs/access.md)."""

    reason = "USAGE_NOT_VISIBLE"

    @classmethod
    def of(cls, field: str, why: str) -> UsageNotVisible:
        return cls(f"filter.{field}: {why}", violations=[FieldViolation(f"filter.{field}", why)])
