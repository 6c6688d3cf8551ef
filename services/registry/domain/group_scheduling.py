"""A resource group's scheduling settings, as an admin configures them (docs/scheduling.md).

The protos limit the names (policy, selector, session types); this checks the options, which
depend on the policy. The scheduler reads the settings through ListResourceGroups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from libs.core.errors import FieldViolation, InvalidArgument
from services.registry.domain.utilization import UtilizationPolicy

DEFAULT_SCHEDULER = "fifo"
DEFAULT_SELECTOR = "least-occupied"
# Options each policy understands; every value is a non-negative integer.
OPTIONS: Mapping[str, frozenset[str]] = {
    "fifo": frozenset({"num_retries_to_skip"}),
    "lifo": frozenset(),
    "drf": frozenset(),
    "priority": frozenset(),
}
FIELDS = frozenset(
    {
        "scheduler",
        "scheduler_options",
        "agent_selector",
        "allowed_session_types",
        "pending_timeout_seconds",
        "reservation_wait_seconds",
        "idle_utilization",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupScheduling:
    scheduler: str = DEFAULT_SCHEDULER
    scheduler_options: Mapping[str, str] = field(default_factory=dict)
    agent_selector: str = DEFAULT_SELECTOR
    allowed_session_types: tuple[str, ...] = ()
    pending_timeout_seconds: int = 0
    reservation_wait_seconds: int = 0
    # Not an ordering setting, but the group's other policy for its sessions: when the idle
    # checker ends under-used ones (docs/idle-and-usage.md); None: never.
    idle_utilization: UtilizationPolicy | None = None

    def normalized(self) -> GroupScheduling:
        """Empty names mean the defaults; raises InvalidArgument on bad options."""
        settings = replace(
            self,
            scheduler=self.scheduler or DEFAULT_SCHEDULER,
            agent_selector=self.agent_selector or DEFAULT_SELECTOR,
        )
        settings.check()
        return settings

    def merged(self, new: GroupScheduling, paths: Iterable[str]) -> GroupScheduling:
        """This with the fields named in `paths` taken from `new`, checked again."""
        changes = {p: getattr(new, p) for p in paths if p in FIELDS}
        return replace(self, **changes).normalized()

    def check(self) -> None:
        known = OPTIONS.get(self.scheduler, frozenset())
        for key, value in sorted(self.scheduler_options.items()):
            where = f"resource_group.scheduler_options.{key}"
            if key not in known:
                raise InvalidArgument(
                    f"scheduler {self.scheduler!r} has no option {key!r}"
                    f" (it takes: {', '.join(sorted(known)) or 'none'})",
                    violations=[FieldViolation(where, "unknown option")],
                )
            if not value.isdigit():
                raise InvalidArgument(
                    f"{key} must be an integer >= 0, got {value!r}",
                    violations=[FieldViolation(where, "must be an integer >= 0")],
                )

    def as_columns(self) -> dict[str, object]:
        return {
            "scheduler": self.scheduler,
            "scheduler_options": dict(self.scheduler_options),
            "agent_selector": self.agent_selector,
            "allowed_session_types": list(self.allowed_session_types),
            "pending_timeout_seconds": self.pending_timeout_seconds,
            "reservation_wait_seconds": self.reservation_wait_seconds,
            "idle_utilization": None
            if self.idle_utilization is None
            else self.idle_utilization.as_dict(),
        }
