"""Errors of the tenancy admin APIs, each with a stable reason."""

from __future__ import annotations

from libs.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)


class DomainNotFound(NotFound):
    reason = "DOMAIN_NOT_FOUND"


class ProjectNotFound(NotFound):
    reason = "PROJECT_NOT_FOUND"


class UserNotFound(NotFound):
    reason = "USER_NOT_FOUND"


class KeypairNotFound(NotFound):
    reason = "KEYPAIR_NOT_FOUND"


class PolicyNotFound(NotFound):
    reason = "RESOURCE_POLICY_NOT_FOUND"


class MemberNotFound(NotFound):
    reason = "MEMBER_NOT_FOUND"


class DomainExists(AlreadyExists):
    reason = "DOMAIN_EXISTS"


class ProjectExists(AlreadyExists):
    reason = "PROJECT_EXISTS"


class EmailTaken(AlreadyExists):
    reason = "EMAIL_TAKEN"


class PolicyExists(AlreadyExists):
    reason = "RESOURCE_POLICY_EXISTS"


class PolicyInUse(FailedPrecondition):
    reason = "RESOURCE_POLICY_IN_USE"


class DomainInactive(FailedPrecondition):
    reason = "DOMAIN_INACTIVE"


class KeypairRevoked(FailedPrecondition):
    reason = "KEYPAIR_REVOKED"


class UserDeleted(FailedPrecondition):
    reason = "USER_DELETED"


class ForeignDomain(FailedPrecondition):
    """A user and a project (or a keypair's objects) from different domains."""

    reason = "FOREIGN_DOMAIN"


class RoleNotGrantable(PermissionDenied):
    reason = "ROLE_NOT_GRANTABLE"


class BadUpdateMask(InvalidArgument):
    reason = "BAD_UPDATE_MASK"
