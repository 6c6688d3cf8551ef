"""Each resource group's scheduling: policy, options, selector, admitted session types,
pending timeout and reservation wait (docs/scheduling.md).

The registry stores them (ResourceGroupService); the scheduler re-reads them periodically and
`update` swaps them in. Groups it has not heard of use the defaults from its settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from libs.core.errors import InvalidArgument
from services.scheduler.domain.policy import SchedulingPolicy, get_policy
from services.scheduler.domain.selectors import AgentSelector, get_selector


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupScheduling:
    policy: str = "fifo"
    selector: str = "least-occupied"
    options: Mapping[str, str] = field(default_factory=dict)
    # Empty = every session type.
    allowed_session_types: tuple[str, ...] = ()
    # Seconds; 0 = never cancel for waiting / never reserve.
    pending_timeout: float = 0.0
    reservation_wait: float = 0.0


@dataclass(frozen=True, slots=True)
class _Built:
    settings: GroupScheduling
    policy: SchedulingPolicy
    selector: AgentSelector


class GroupConfig:
    def __init__(
        self, default: GroupScheduling, groups: Mapping[str, GroupScheduling] | None = None
    ) -> None:
        self._default = _build(default)
        self._groups: dict[str, _Built] = {}
        if groups:
            errors = self.update(groups)
            if errors:
                raise next(iter(errors.values()))

    def update(self, groups: Mapping[str, GroupScheduling]) -> dict[str, InvalidArgument]:
        """Replace every group's settings; a group whose settings do not build keeps the
        default, and its error is returned (keyed by group) for the caller to report."""
        built: dict[str, _Built] = {}
        errors: dict[str, InvalidArgument] = {}
        for name, settings in groups.items():
            try:
                built[name] = _build(settings)
            except InvalidArgument as exc:
                errors[name] = exc
        self._groups = built
        return errors

    def policy_for(self, group: str) -> SchedulingPolicy:
        return self._groups.get(group, self._default).policy

    def selector_for(self, group: str) -> AgentSelector:
        return self._groups.get(group, self._default).selector

    def settings_for(self, group: str) -> GroupScheduling:
        return self._groups.get(group, self._default).settings

    def allowed_session_types(self, group: str) -> tuple[str, ...]:
        return self.settings_for(group).allowed_session_types


def _build(settings: GroupScheduling) -> _Built:
    return _Built(
        settings=settings,
        policy=get_policy(settings.policy, settings.options),
        selector=get_selector(settings.selector),
    )
