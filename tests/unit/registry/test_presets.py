"""check-presets arithmetic: remaining = limit - using (never below 0), the least of keypair,
project and domain; group capacity capped by it; a preset fits on one agent or not at all."""

from __future__ import annotations

from decimal import Decimal

from libs.core.slots import ResourceSlots
from services.registry.domain.presets import ResourcePreset, SlotLimit, check_presets

D = Decimal
NONE = SlotLimit()


def _preset(name: str, group: str = "", **slots: str) -> ResourcePreset:
    return ResourcePreset(name=name, slots=ResourceSlots(slots), resource_group=group)


def _check(**kw: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = {
        "keypair": (NONE, ResourceSlots()),
        "project": (NONE, ResourceSlots()),
        "domain": (NONE, ResourceSlots()),
        "groups": ["default"],
        "using_by_group": {},
        "agents_free": [],
        "presets": [],
    }
    return check_presets(**{**base, **kw})  # type: ignore[arg-type]


def test_remaining_is_the_least_of_the_three_limits() -> None:
    check = _check(
        keypair=(SlotLimit(amounts=ResourceSlots({"cpu": 8})), ResourceSlots({"cpu": 3})),
        project=(
            SlotLimit(amounts=ResourceSlots({"cpu": 4, "mem": 100})),
            ResourceSlots({"cpu": 2}),
        ),
        domain=(NONE, ResourceSlots({"cpu": 50})),
    )
    assert check.keypair.remaining == {"cpu": D(5)}
    assert check.project.remaining == {"cpu": D(2), "mem": D(100)}
    assert check.domain.limits == {} and check.domain.remaining == {}  # unlimited
    assert check.remaining == {"cpu": D(2), "mem": D(100)}


def test_over_the_limit_remains_zero_and_strict_caps_unnamed_slots() -> None:
    strict = SlotLimit(amounts=ResourceSlots({"cpu": 1}), strict=True)
    check = _check(
        keypair=(strict, ResourceSlots({"cpu": 2})),
        agents_free=[("default", ResourceSlots({"cpu": 4, "mem": 10}))],
    )
    assert check.keypair.remaining == {"cpu": D(0), "mem": D(0)}


def test_group_capacity_sums_its_agents_capped_by_what_remains() -> None:
    check = _check(
        keypair=(SlotLimit(amounts=ResourceSlots({"cpu": 3})), ResourceSlots()),
        groups=["default", "gpu"],
        using_by_group={"gpu": ResourceSlots({"cpu": 1})},
        agents_free=[
            ("default", ResourceSlots({"cpu": 2, "mem": 10})),
            ("default", ResourceSlots({"cpu": 2, "mem": 10})),
            ("gpu", ResourceSlots({"cpu": 1})),
        ],
    )
    groups = {g.name: g for g in check.groups}
    assert groups["default"].remaining == ResourceSlots({"cpu": 3, "mem": 20})
    assert groups["gpu"].remaining == ResourceSlots({"cpu": 1})
    assert groups["gpu"].using == ResourceSlots({"cpu": 1})


def test_a_preset_fits_only_on_a_single_agent_within_the_budget() -> None:
    check = _check(
        keypair=(SlotLimit(amounts=ResourceSlots({"cpu": 3})), ResourceSlots({"cpu": 1})),
        groups=["default"],
        agents_free=[
            ("default", ResourceSlots({"cpu": 2, "mem": 10})),
            ("default", ResourceSlots({"cpu": 2, "mem": 10})),
        ],
        presets=[
            _preset("fits", cpu="2", mem="10"),
            _preset("spans-agents", cpu="3"),  # 4 cpus free in total, but 2 per agent
            _preset("over-budget", cpu="2.5"),
            _preset("elsewhere", group="gpu", cpu="1"),
        ],
    )
    assert {p.name: fits for p, fits in check.presets} == {
        "fits": True,
        "spans-agents": False,
        "over-budget": False,
        "elsewhere": False,
    }
