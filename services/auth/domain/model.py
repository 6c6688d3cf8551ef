"""Auth's domain types: keypairs and the account a keypair belongs to."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from enum import StrEnum

from libs.core.identity import Caller, Role

DEFAULT_DOMAIN = "default"
DEFAULT_PROJECT = "default"
# The resource group the bootstrap domain may use from the first start.
DEFAULT_RESOURCE_GROUP = "default"
DEFAULT_ADMIN_EMAIL = "admin@shipyard.local"

ACCESS_KEY_LENGTH = 20
SECRET_KEY_LENGTH = 40
_ACCESS_KEY_RE = re.compile(r"AK[A-Z0-9]{18}")
_ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits


class UserStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSummary:
    """A user as other services see them to share things with them."""

    user_id: str
    email: str
    domain_name: str
    active: bool
    project_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GateOutcome:
    """What the request gate decided: `replayed` (signature seen before, nothing counted), else
    whether the request fits its rate limit and how many requests the window has left."""

    replayed: bool
    allowed: bool
    remaining: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Keypair:
    """An access key and its secret, as the bootstrap returns it."""

    access_key: str
    secret_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredKeypair:
    access_key: str
    secret_key: str
    user_id: str
    is_active: bool
    is_admin: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class KeypairOwner:
    """What the verifier needs about a keypair: its secret, its state, and who owns it."""

    access_key: str
    secret_key: str
    keypair_active: bool
    user_id: str
    user_status: UserStatus
    role: Role
    domain_name: str
    email: str
    project_ids: tuple[str, ...]
    rate_limit: int  # requests per rate-limit window at the edge

    def caller(self) -> Caller:
        return Caller(
            user_id=self.user_id,
            access_key=self.access_key,
            role=self.role,
            domain_name=self.domain_name,
            project_ids=self.project_ids,
            email=self.email,
        )


def is_access_key(text: str) -> bool:
    return _ACCESS_KEY_RE.fullmatch(text) is not None


def is_secret_key(text: str) -> bool:
    return len(text) == SECRET_KEY_LENGTH and text.isascii() and text.isprintable()


def new_keypair() -> Keypair:
    """A fresh random keypair ("AK" + 18 upper-case alphanumerics; a 40-char url-safe secret)."""
    suffix = "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(ACCESS_KEY_LENGTH - 2))
    return Keypair(access_key="AK" + suffix, secret_key=secrets.token_urlsafe(30))
