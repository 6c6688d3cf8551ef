"""Selectors against the documented agent-selection cases (MOF, "favor CPU")."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.core.errors import InvalidArgument
from libs.core.slots import ResourceSlots
from services.scheduler.domain.group_config import GroupConfig, GroupScheduling
from services.scheduler.domain.model import Agent, PendingKernel
from services.scheduler.domain.selectors import SELECTORS, get_selector
from services.scheduler.domain.selectors.legacy import LegacySelector
from services.scheduler.domain.selectors.most_occupied import MostOccupiedSelector
from tests.unit.scheduler.factories import agent, slots


def _node(agent_id: str, available: dict[str, int], occupied: dict[str, int] | None = None):
    return Agent(
        agent_id=agent_id,
        alive=True,
        resource_group="default",
        available=ResourceSlots(available),
        occupied=ResourceSlots(occupied or {}),
    )


def _kernel(**amounts: str | int) -> PendingKernel:
    return PendingKernel(kernel_id="k", requested=ResourceSlots(amounts))


def _fitting(kernel: PendingKernel, agents: list[Agent]) -> list[Agent]:
    return [a for a in agents if a.fits(kernel)]


def test_every_selector_is_registered_by_name():
    assert sorted(SELECTORS) == ["least-occupied", "legacy", "most-occupied"]
    assert {get_selector(n).name for n in SELECTORS} == set(SELECTORS)


def test_most_occupied_packs_onto_the_busiest_agent():
    busy = agent("a1", cpu=8, mem_gib=32, used_cpu=6)
    idle = agent("a2", cpu=8, mem_gib=32)
    assert MostOccupiedSelector().select(_kernel(cpu=1, mem=1), [idle, busy]) is busy


def test_most_occupied_moves_on_when_the_busiest_agent_is_full():
    full = agent("a1", cpu=4, mem_gib=8, used_cpu=4)
    other = agent("a2", cpu=8, mem_gib=32, used_cpu=1)
    kernel = PendingKernel(kernel_id="k", requested=slots(2, 1))
    assert MostOccupiedSelector().select(kernel, _fitting(kernel, [full, other])) is other
    assert MostOccupiedSelector().select(kernel, _fitting(kernel, [full])) is None


def test_most_occupied_still_keeps_cpu_kernels_off_gpu_nodes():
    gpu = _node("gpu", {"cpu": 8, "mem": 8, "cuda.device": 2}, {"cpu": 7})
    cpu = _node("cpu", {"cpu": 8, "mem": 8})
    assert MostOccupiedSelector().select(_kernel(cpu=1, mem=1), [gpu, cpu]) is cpu


def _mixed() -> list[Agent]:
    return [
        _node("i-gpu", {"cpu": 4, "mem": 4096, "cuda.shares": 4}),
        _node("i-cpu", {"cpu": 3, "mem": 2560}),
    ]


def test_legacy_favors_cpu_agents_for_cpu_requests_and_gpu_agents_for_gpu_requests():
    agents = _mixed()
    rocm = _kernel(cpu=2, mem=1024, **{"rocm.devices": 1})
    cuda = _kernel(cpu=1, mem=2048, **{"cuda.shares": "0.5"})
    cpu_only = _kernel(cpu="0.4", mem=512)
    selector = LegacySelector()
    assert selector.select(rocm, _fitting(rocm, agents)) is None
    assert selector.select(cuda, _fitting(cuda, agents)).agent_id == "i-gpu"
    assert selector.select(cpu_only, _fitting(cpu_only, agents)).agent_id == "i-cpu"


def test_legacy_takes_the_agent_with_the_most_free_capacity_among_equals():
    small = _node("a", {"cpu": 4, "mem": 4096}, {"cpu": 2})
    large = _node("b", {"cpu": 4, "mem": 4096}, {"cpu": 1})
    assert LegacySelector().select(_kernel(cpu=1), [small, large]) is large


def test_selectors_agree_there_is_nothing_to_choose_without_candidates():
    for name in SELECTORS:
        assert get_selector(name).select(_kernel(cpu=1), []) is None


def test_most_occupied_breaks_ties_by_agent_id():
    twins = [agent("b"), agent("a")]
    assert MostOccupiedSelector().select(_kernel(cpu=1, mem=Decimal(1)), twins).agent_id == "a"


def test_each_resource_group_gets_its_own_policy_and_selector():
    config = GroupConfig(
        GroupScheduling(),
        {"gpu": GroupScheduling(policy="drf", selector="most-occupied")},
    )
    assert (config.policy_for("gpu").name, config.selector_for("gpu").name) == (
        "drf",
        "most-occupied",
    )
    assert (config.policy_for("other").name, config.selector_for("other").name) == (
        "fifo",
        "least-occupied",
    )


def test_a_misconfigured_group_is_refused_when_the_configuration_is_built():
    with pytest.raises(InvalidArgument, match="unknown agent selector 'packed'"):
        GroupConfig(GroupScheduling(), {"gpu": GroupScheduling(selector="packed")})
    with pytest.raises(InvalidArgument, match="num_retries_to_skip"):
        GroupConfig(GroupScheduling(options={"num_retries_to_skip": "-2"}))
