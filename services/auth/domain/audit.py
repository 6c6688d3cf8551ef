"""Audit events: who did what to which object, how it ended, and the request's trace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


DENIED_CODES = frozenset({"PERMISSION_DENIED", "NOT_FOUND", "UNAUTHENTICATED"})


def outcome_of(status_code: str) -> Outcome:
    """NOT_FOUND counts as denied: it is what another tenant's object looks like."""
    if status_code == "OK":
        return Outcome.SUCCESS
    return Outcome.DENIED if status_code in DENIED_CODES else Outcome.FAILURE


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    action: str
    outcome: Outcome
    time: datetime | None = None  # now, when recorded without one
    event_id: str = ""
    actor_user_id: str = ""
    actor_email: str = ""
    actor_access_key: str = ""
    target_type: str = ""
    target_id: str = ""
    domain_name: str = ""
    status_code: str = "OK"
    detail: str = ""
    trace_id: str = ""
    client_address: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    actor_user_id: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    domain_name: str = ""
    outcome: Outcome | None = None
    start: datetime | None = None
    end: datetime | None = None
