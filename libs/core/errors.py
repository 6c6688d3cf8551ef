"""Domain errors shared by every service.

Business code raises subclasses of ShipyardError; the gRPC layer maps `code` to a status and
`reason`/`metadata` to a google.rpc.ErrorInfo. Nothing here depends on grpc.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad input field, reported as a google.rpc.BadRequest field violation."""

    field: str
    description: str


class ShipyardError(Exception):
    """Base of all expected errors. `code` is a canonical gRPC code name."""

    code: str = "INTERNAL"
    reason: str = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str,
        *,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = dict(metadata or {})
        self.violations = tuple(violations)
        if reason is not None:
            self.reason = reason


class InvalidArgument(ShipyardError):
    code = "INVALID_ARGUMENT"
    reason = "INVALID_ARGUMENT"


class NotFound(ShipyardError):
    code = "NOT_FOUND"
    reason = "NOT_FOUND"


class AlreadyExists(ShipyardError):
    code = "ALREADY_EXISTS"
    reason = "ALREADY_EXISTS"


class PermissionDenied(ShipyardError):
    code = "PERMISSION_DENIED"
    reason = "PERMISSION_DENIED"


class Unauthenticated(ShipyardError):
    code = "UNAUTHENTICATED"
    reason = "UNAUTHENTICATED"


class FailedPrecondition(ShipyardError):
    code = "FAILED_PRECONDITION"
    reason = "FAILED_PRECONDITION"


class Aborted(ShipyardError):
    code = "ABORTED"
    reason = "ABORTED"


class ResourceExhausted(ShipyardError):
    code = "RESOURCE_EXHAUSTED"
    reason = "RESOURCE_EXHAUSTED"


class Unavailable(ShipyardError):
    """A transient fault: the caller may retry."""

    code = "UNAVAILABLE"
    reason = "UNAVAILABLE"


class DeadlineExceeded(ShipyardError):
    code = "DEADLINE_EXCEEDED"
    reason = "DEADLINE_EXCEEDED"


class Internal(ShipyardError):
    code = "INTERNAL"
    reason = "INTERNAL_ERROR"
