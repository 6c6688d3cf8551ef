"""When an agent receives new work (rule R-AGENT-OUT in docs/reliability.md).

An ALIVE agent is taken out of scheduling when it drains (SIGTERM), when its own health probe
fails, or when its starts keep failing; the reason is kept as "<kind>: <detail>" so operators see
it in ListAgents. Draining ends only with a new registration; the other two end with a healthy
heartbeat once the cooldown has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

REASON_MAX = 256  # the column's length


class OutOfScheduling(StrEnum):
    DRAINING = "draining"
    UNHEALTHY = "unhealthy"
    START_FAILURES = "start-failures"


def reason(kind: OutOfScheduling, detail: str) -> str:
    text = f"{kind.value}: {detail}" if detail else kind.value
    return text[:REASON_MAX]


def kind_of(reason_text: str) -> OutOfScheduling | None:
    head = reason_text.split(":", 1)[0].strip()
    try:
        return OutOfScheduling(head)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulabilityPolicy:
    failure_threshold: int = 3  # consecutive failed starts that take an agent out
    cooldown: timedelta = timedelta(seconds=30)

    def too_many_failures(self, consecutive: int) -> bool:
        return self.failure_threshold > 0 and consecutive >= self.failure_threshold

    def may_return(self, reason_text: str, since: datetime | None, now: datetime) -> bool:
        """Whether a healthy heartbeat at `now` puts the agent back into scheduling."""
        kind = kind_of(reason_text)
        if kind is OutOfScheduling.DRAINING:
            return False
        if kind is OutOfScheduling.UNHEALTHY:
            return True  # the probe that failed passes again
        return since is None or now - since >= self.cooldown
