"""Why a credential was refused, and what can go wrong while bootstrapping."""

from __future__ import annotations

from libs.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
    Unauthenticated,
)


class MissingCredentials(Unauthenticated):
    reason = "MISSING_CREDENTIALS"


class MalformedAuthorization(Unauthenticated):
    reason = "MALFORMED_AUTHORIZATION"


class UnsupportedSignMethod(Unauthenticated):
    reason = "UNSUPPORTED_SIGN_METHOD"


class MissingDate(Unauthenticated):
    reason = "MISSING_DATE"


class MalformedDate(Unauthenticated):
    reason = "MALFORMED_DATE"


class MissingApiVersion(Unauthenticated):
    reason = "MISSING_API_VERSION"


class DateOutOfWindow(Unauthenticated):
    reason = "DATE_OUT_OF_WINDOW"


class UnknownAccessKey(Unauthenticated):
    reason = "UNKNOWN_ACCESS_KEY"


class InvalidSignature(Unauthenticated):
    reason = "INVALID_SIGNATURE"


class InactiveKeypair(Unauthenticated):
    reason = "INACTIVE_KEYPAIR"


class InactiveUser(Unauthenticated):
    reason = "INACTIVE_USER"


class InvalidBootstrapKeypair(InvalidArgument):
    reason = "INVALID_BOOTSTRAP_KEYPAIR"


class BootstrapKeypairConflict(FailedPrecondition):
    """The configured access key exists but belongs to another user."""

    reason = "BOOTSTRAP_KEYPAIR_CONFLICT"


class ReplayedSignature(Unauthenticated):
    """The exact signed request was already used once (the signature covers no body)."""

    reason = "REPLAYED_SIGNATURE"


class RateLimitExceeded(ResourceExhausted):
    reason = "RATE_LIMIT_EXCEEDED"
