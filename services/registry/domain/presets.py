"""Resource presets and "what can I still allocate" (check-presets), as pure arithmetic.

A limit is a ResourceSlots cap plus `strict`: slots it does not name are unlimited, or zero
when strict (a keypair policy with default_for_unspecified = LIMITED). `remaining` is
limit - using per capped slot (never below 0); the caller's overall remaining is the least of
keypair, project and domain. A group's remaining is the free capacity of its schedulable live
agents, capped by the caller's remaining; a preset is allocatable when it is within the
caller's remaining and one single agent has it free (a kernel cannot span agents).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from libs.core.errors import AlreadyExists, NotFound
from libs.core.slots import ResourceSlots


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourcePreset:
    name: str
    slots: ResourceSlots
    resource_group: str = ""  # "" = offered in every group
    created_at: datetime | None = None


class PresetNotFound(NotFound):
    reason = "RESOURCE_PRESET_NOT_FOUND"

    @classmethod
    def named(cls, name: str) -> PresetNotFound:
        return cls(f"resource preset {name!r} not found", metadata={"name": name})


class PresetExists(AlreadyExists):
    reason = "RESOURCE_PRESET_EXISTS"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotLimit:
    amounts: ResourceSlots = field(default_factory=ResourceSlots)
    strict: bool = False

    def caps(self, slot_names: Iterable[str]) -> dict[str, Decimal]:
        """The cap of every slot that has one (named, or any known slot when strict)."""
        named = dict(self.amounts)
        if self.strict:
            return {s: named.get(s, Decimal(0)) for s in {*slot_names, *named}}
        return named


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantLimits:
    """The caller's caps as auth reports them, and the resource groups they may use."""

    keypair: SlotLimit
    project: SlotLimit
    domain: SlotLimit
    allowed_resource_groups: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    limits: dict[str, Decimal]
    using: ResourceSlots
    remaining: dict[str, Decimal]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupCapacity:
    name: str
    using: ResourceSlots
    remaining: ResourceSlots


@dataclass(frozen=True, slots=True, kw_only=True)
class PresetCheck:
    keypair: Budget
    project: Budget
    domain: Budget
    remaining: dict[str, Decimal]  # a slot missing is unlimited
    groups: tuple[GroupCapacity, ...]
    presets: tuple[tuple[ResourcePreset, bool], ...]


def budget(limit: SlotLimit, using: ResourceSlots, slot_names: Iterable[str]) -> Budget:
    caps = limit.caps(slot_names)
    remaining = {s: max(cap - using[s], Decimal(0)) for s, cap in caps.items()}
    return Budget(limits=caps, using=using, remaining=remaining)


def least(*remainings: Mapping[str, Decimal]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for remaining in remainings:
        for slot, amount in remaining.items():
            out[slot] = min(out.get(slot, amount), amount)
    return out


def _capped(free: ResourceSlots, remaining: Mapping[str, Decimal]) -> ResourceSlots:
    return ResourceSlots({s: min(a, remaining.get(s, a)) for s, a in free.items()})


def _within(slots: ResourceSlots, available: Mapping[str, Decimal]) -> bool:
    return all(amount <= available.get(slot, Decimal(0)) for slot, amount in slots.items())


def check_presets(
    *,
    keypair: tuple[SlotLimit, ResourceSlots],
    project: tuple[SlotLimit, ResourceSlots],
    domain: tuple[SlotLimit, ResourceSlots],
    groups: Sequence[str],
    using_by_group: Mapping[str, ResourceSlots],
    agents_free: Sequence[tuple[str, ResourceSlots]],
    presets: Sequence[ResourcePreset],
) -> PresetCheck:
    """The caller's allocation picture; `agents_free` is (group, free slots) per agent."""
    names: set[str] = set()
    for _, free in agents_free:
        names |= set(free)
    for preset in presets:
        names |= set(preset.slots)
    kp, pj, dm = (budget(limit, using, names) for limit, using in (keypair, project, domain))
    remaining = least(kp.remaining, pj.remaining, dm.remaining)
    capacities = []
    for group in groups:
        total = ResourceSlots()
        for agent_group, free in agents_free:
            if agent_group == group:
                total = total + free
        capacities.append(
            GroupCapacity(
                name=group,
                using=using_by_group.get(group, ResourceSlots()),
                remaining=_capped(total, remaining),
            )
        )
    fits = []
    for preset in presets:
        in_budget = all(
            amount <= remaining[slot] for slot, amount in preset.slots.items() if slot in remaining
        )
        on_agent = any(
            _within(preset.slots, free)
            for group, free in agents_free
            if group in groups and preset.resource_group in ("", group)
        )
        fits.append((preset, in_budget and on_agent))
    return PresetCheck(
        keypair=kp,
        project=pj,
        domain=dm,
        remaining=remaining,
        groups=tuple(capacities),
        presets=tuple(fits),
    )
