"""Tenant limits at placement: keypair concurrency and keypair / project / domain slot quotas.

Usage is counted from the sessions that hold slots (SCHEDULED to TERMINATING) plus the
placements decided earlier in the same cycle, so one cycle never overshoots a limit. The
registry re-checks the keypair concurrency when it binds (the authoritative count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from libs.core.slots import ResourceSlots
from services.scheduler.domain.model import ActiveSession, PendingSession
from services.scheduler.domain.shortage import format_amount

CONCURRENCY_LIMIT = "concurrency-limit"
KEYPAIR_RESOURCE_LIMIT = "keypair-resource-limit"
PROJECT_RESOURCE_LIMIT = "project-resource-limit"
DOMAIN_RESOURCE_LIMIT = "domain-resource-limit"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotQuota:
    """A cap per slot. Slots it does not name are unlimited, or zero when `strict`
    (a keypair policy with default_for_unspecified = LIMITED)."""

    amounts: ResourceSlots = field(default_factory=ResourceSlots)
    strict: bool = False

    @property
    def limits_anything(self) -> bool:
        return bool(self.amounts) or self.strict

    def over(self, used: ResourceSlots, wanted: ResourceSlots) -> str | None:
        """None when `used + wanted` fits, else "slot: used + wanted > limit" for the first."""
        named = set(self.amounts)  # not `in`: ResourceSlots answers 0 for any missing slot
        for slot in sorted(wanted):
            if wanted[slot] <= 0:
                continue
            if slot not in named and not self.strict:
                continue
            limit = self.amounts[slot]
            if used[slot] + wanted[slot] > limit:
                return (
                    f"{slot}: {format_amount(slot, used[slot])} in use + "
                    f"{format_amount(slot, wanted[slot])} requested > "
                    f"limit {format_amount(slot, limit)}"
                )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeypairLimits:
    max_concurrent_sessions: int = 0  # 0 = no limit
    total: SlotQuota = field(default_factory=SlotQuota)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Limits by owner; an owner without an entry is not limited."""

    keypairs: Mapping[str, KeypairLimits] = field(default_factory=dict)
    projects: Mapping[str, SlotQuota] = field(default_factory=dict)
    domains: Mapping[str, SlotQuota] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.keypairs or self.projects or self.domains)

    def applies_to(self, session: PendingSession | ActiveSession) -> bool:
        """Whether a limit is set for the session's keypair, project or domain."""
        return (
            session.access_key in self.keypairs
            or session.project_id in self.projects
            or session.domain_name in self.domains
        )

    def effective(self) -> Limits:
        """The same limits without the entries that limit nothing (no concurrency cap, no
        named slot, not strict): check_limits answers the same for every session."""
        return Limits(
            keypairs={
                k: v
                for k, v in self.keypairs.items()
                if v.max_concurrent_sessions > 0 or v.total.limits_anything
            },
            projects={k: q for k, q in self.projects.items() if q.limits_anything},
            domains={k: q for k, q in self.domains.items() if q.limits_anything},
        )


NO_LIMITS = Limits()


class Usage:
    """Sessions and slots held per keypair, project and domain."""

    def __init__(self, active: Iterable[ActiveSession] = (), limits: Limits | None = None) -> None:
        """With `limits`, only the sessions of limited owners are counted: check_limits reads
        nothing else, and a cycle over thousands of slot holders stays cheap."""
        self.sessions: dict[str, int] = {}
        self.keypairs: dict[str, ResourceSlots] = {}
        self.projects: dict[str, ResourceSlots] = {}
        self.domains: dict[str, ResourceSlots] = {}
        if limits is not None and limits.empty:
            return
        for session in active:
            if limits is None or limits.applies_to(session):
                self.add(session)

    def add(self, session: ActiveSession) -> None:
        ak = session.access_key
        self.sessions[ak] = self.sessions.get(ak, 0) + 1
        _grow(self.keypairs, ak, session.slots)
        _grow(self.projects, session.project_id, session.slots)
        _grow(self.domains, session.domain_name, session.slots)


def check_limits(session: PendingSession, usage: Usage, limits: Limits) -> tuple[str, str] | None:
    """(reason, message with the numbers) for the first limit the session would exceed."""
    wanted = session.requested
    keypair = limits.keypairs.get(session.access_key)
    if keypair is not None:
        cap = keypair.max_concurrent_sessions
        running = usage.sessions.get(session.access_key, 0)
        if cap > 0 and running >= cap:
            return CONCURRENCY_LIMIT, (
                f"keypair {session.access_key} runs {running} sessions; "
                f"max_concurrent_sessions is {cap}"
            )
        over = keypair.total.over(usage.keypairs.get(session.access_key, _NONE), wanted)
        if over:
            return KEYPAIR_RESOURCE_LIMIT, f"keypair {session.access_key} quota exceeded: {over}"
    project = limits.projects.get(session.project_id)
    if project is not None:
        over = project.over(usage.projects.get(session.project_id, _NONE), wanted)
        if over:
            return PROJECT_RESOURCE_LIMIT, f"project {session.project_id} quota exceeded: {over}"
    domain = limits.domains.get(session.domain_name)
    if domain is not None:
        over = domain.over(usage.domains.get(session.domain_name, _NONE), wanted)
        if over:
            return DOMAIN_RESOURCE_LIMIT, f"domain {session.domain_name} quota exceeded: {over}"
    return None


_NONE = ResourceSlots()


def _grow(totals: dict[str, ResourceSlots], key: str, slots: ResourceSlots) -> None:
    if key:
        totals[key] = totals.get(key, _NONE) + slots
