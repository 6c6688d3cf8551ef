"""CreateSession's scheduling requests: priority, preemptible, start time, dependencies.

Checked before the enqueue, each refusal naming its field (docs/scheduling.md).
"""

from __future__ import annotations

from datetime import datetime

from libs.core.access import Verb
from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from services.registry.domain.errors import PolicyLimitExceeded, SessionNotFound
from services.registry.domain.model import SessionPolicy, SessionScheduling, SessionType
from services.registry.service.access import check_access
from services.registry.service.session_ports import SessionIntake


async def check_scheduling(
    caller: Caller,
    wanted: SessionScheduling,
    *,
    session_type: SessionType,
    policy: SessionPolicy,
    store: SessionIntake,
    now: datetime,
) -> SessionScheduling:
    """The request as it may be enqueued; raises InvalidArgument naming the field."""
    if wanted.priority > policy.max_session_priority:
        raise PolicyLimitExceeded(
            f"priority {wanted.priority} is above your resource policy's max_session_priority "
            f"{policy.max_session_priority}",
            violations=[
                FieldViolation(
                    "priority", f"at most {policy.max_session_priority} (max_session_priority)"
                )
            ],
            metadata={
                "limit": "max_session_priority",
                "max_session_priority": str(policy.max_session_priority),
            },
        )
    if wanted.starts_at is not None and session_type is not SessionType.BATCH:
        raise InvalidArgument(
            "starts_at applies to batch sessions only",
            violations=[FieldViolation("starts_at", "only batch sessions may set a start time")],
        )
    for index, dependency in enumerate(wanted.dependencies):
        try:
            check_access(caller, await store.get(dependency), Verb.READ)
        except SessionNotFound:
            # The same answer for "no such session" and "not yours": ids do not leak.
            raise InvalidArgument(
                f"dependency {dependency} is not a session you can see",
                violations=[FieldViolation(f"dependencies[{index}]", "unknown session")],
                reason="UNKNOWN_DEPENDENCY",
            ) from None
    del now  # start times in the past simply mean "now"
    return wanted
