"""The authenticated caller, as services see it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"
    SUPERADMIN = "superadmin"
    MONITOR = "monitor"


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """Who is calling. `system` is another Shipyard service (internal token, no user)."""

    user_id: str = ""
    access_key: str = ""
    role: Role = Role.USER
    domain_name: str = ""
    project_ids: tuple[str, ...] = ()
    email: str = ""
    system: bool = False

    @property
    def is_admin(self) -> bool:
        return self.system or self.role in (Role.ADMIN, Role.SUPERADMIN)

    @property
    def is_superadmin(self) -> bool:
        return self.system or self.role is Role.SUPERADMIN


SYSTEM_CALLER = Caller(system=True, role=Role.SUPERADMIN)

# Header names the edge sets after authentication; clients can never set them (Envoy strips them).
HEADER_USER_ID = "x-shipyard-user-id"
HEADER_ACCESS_KEY = "x-shipyard-access-key"
HEADER_ROLE = "x-shipyard-role"
HEADER_DOMAIN = "x-shipyard-domain"
HEADER_PROJECT_IDS = "x-shipyard-project-ids"
HEADER_EMAIL = "x-shipyard-email"
HEADER_INTERNAL_TOKEN = "x-shipyard-internal-token"
# The HttpOnly cookie carrying a browser's bearer token (auth sets it at login, the edge reads it).
LOGIN_COOKIE = "shipyard_token"
# Set (with the token) only by Shipyard services calling each other: "no user" must be explicit,
# never the result of missing headers on a request that came through the edge.
HEADER_SYSTEM = "x-shipyard-system"
IDENTITY_HEADERS = (
    HEADER_SYSTEM,
    HEADER_USER_ID,
    HEADER_ACCESS_KEY,
    HEADER_ROLE,
    HEADER_DOMAIN,
    HEADER_PROJECT_IDS,
    HEADER_EMAIL,
)


def caller_to_headers(caller: Caller) -> dict[str, str]:
    return {
        HEADER_USER_ID: caller.user_id,
        HEADER_ACCESS_KEY: caller.access_key,
        HEADER_ROLE: caller.role.value,
        HEADER_DOMAIN: caller.domain_name,
        HEADER_PROJECT_IDS: ",".join(caller.project_ids),
        HEADER_EMAIL: caller.email,
    }


def caller_from_headers(headers: dict[str, str]) -> Caller | None:
    """The caller described by identity headers, or None when there are none."""
    user_id = headers.get(HEADER_USER_ID, "")
    if not user_id:
        return None
    try:
        role = Role(headers.get(HEADER_ROLE, "user"))
    except ValueError:
        role = Role.USER
    projects = tuple(p for p in headers.get(HEADER_PROJECT_IDS, "").split(",") if p)
    return Caller(
        user_id=user_id,
        access_key=headers.get(HEADER_ACCESS_KEY, ""),
        role=role,
        domain_name=headers.get(HEADER_DOMAIN, ""),
        project_ids=projects,
        email=headers.get(HEADER_EMAIL, ""),
    )
