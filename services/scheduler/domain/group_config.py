"""Each resource group's policy, its options and its selector (docs/scheduling.md).

Groups not named fall back to the defaults. Names and options are checked when the
configuration is built, so a typo stops the scheduler at start instead of at the first cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.scheduler.domain.policy import SchedulingPolicy, get_policy
from services.scheduler.domain.selectors import AgentSelector, get_selector


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupScheduling:
    policy: str = "fifo"
    selector: str = "least-occupied"
    options: Mapping[str, str] = field(default_factory=dict)


class GroupConfig:
    def __init__(
        self, default: GroupScheduling, groups: Mapping[str, GroupScheduling] | None = None
    ) -> None:
        self._default = _build(default)
        self._groups = {name: _build(g) for name, g in (groups or {}).items()}

    def policy_for(self, group: str) -> SchedulingPolicy:
        return self._groups.get(group, self._default)[0]

    def selector_for(self, group: str) -> AgentSelector:
        return self._groups.get(group, self._default)[1]


def _build(group: GroupScheduling) -> tuple[SchedulingPolicy, AgentSelector]:
    return get_policy(group.policy, group.options), get_selector(group.selector)
