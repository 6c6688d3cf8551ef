from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from services.scheduler.domain.model import PendingKernel
from services.scheduler.domain.policy import get_policy
from services.scheduler.domain.selectors import get_selector
from services.scheduler.domain.selectors.least_occupied import LeastOccupiedSelector
from services.scheduler.domain.shortage import format_amount, shortage_message
from tests.unit.scheduler.factories import GiB, agent, session, slots


def _kernel(cpu: int, mem_gib: int) -> PendingKernel:
    return PendingKernel(kernel_id="k1", requested=slots(cpu, mem_gib))


def test_least_occupied_picks_the_agent_least_used_after_placement():
    busy = agent("a1", cpu=8, mem_gib=32, used_cpu=6)
    idle = agent("a2", cpu=8, mem_gib=32, used_cpu=1)
    chosen = LeastOccupiedSelector().select(_kernel(1, 1), [busy, idle])
    assert chosen is idle


def test_least_occupied_weighs_the_busiest_slot_relative_to_capacity():
    # a1 would be at 75% memory; a2 (bigger) at 25% memory and 50% cpu.
    a1 = agent("a1", cpu=16, mem_gib=8, used_mem_gib=2)
    a2 = agent("a2", cpu=4, mem_gib=32, used_cpu=1, used_mem_gib=4)
    assert LeastOccupiedSelector().select(_kernel(1, 4), [a1, a2]) is a2


def test_least_occupied_breaks_ties_by_agent_id():
    agents = [agent("c"), agent("a"), agent("b")]
    assert LeastOccupiedSelector().select(_kernel(1, 1), agents).agent_id == "a"


def test_a_cpu_kernel_prefers_an_agent_without_gpus_even_if_busier():
    gpu_node = agent("a1", cpu=8, mem_gib=32)
    gpu_node = replace(gpu_node, available=gpu_node.available + {"cuda.device": Decimal(2)})
    cpu_node = agent("a2", cpu=8, mem_gib=32, used_cpu=6)
    assert LeastOccupiedSelector().select(_kernel(1, 1), [gpu_node, cpu_node]) is cpu_node


def test_selector_returns_none_without_candidates():
    assert LeastOccupiedSelector().select(_kernel(1, 1), []) is None


def test_policies_and_selectors_are_looked_up_by_name():
    assert get_policy("fifo").name == "fifo"
    assert get_selector("least-occupied").name == "least-occupied"


def test_shortage_message_names_the_missing_slot_and_the_largest_free_amount():
    agents = [agent("a1", mem_gib=32, used_mem_gib=9), agent("a2", mem_gib=16)]
    message = shortage_message("default", slots(1, 64), agents)
    assert (
        message == "no agent in resource group 'default' has mem 64 GiB free (largest free: 23 GiB)"
    )


def test_shortage_message_lists_every_short_slot():
    message = shortage_message("default", slots(16, 64), [agent("a1", cpu=8, mem_gib=32)])
    assert message == (
        "no agent in resource group 'default' has cpu 16, mem 64 GiB free "
        "(largest free: cpu 8, mem 32 GiB)"
    )


def test_shortage_message_when_capacity_is_split_across_agents():
    agents = [agent("a1", cpu=8, mem_gib=2), agent("a2", cpu=1, mem_gib=32)]
    message = shortage_message("default", slots(4, 8), agents)
    assert (
        message == "no single agent in resource group 'default' has cpu 4, mem 8 GiB free at once"
    )


def test_shortage_message_without_alive_agents():
    agents = [agent("a1", alive=False), agent("a2", group="gpu")]
    assert shortage_message("default", slots(1, 1), agents) == (
        "no alive agent in resource group 'default'"
    )


def test_amounts_are_humanized():
    assert format_amount("mem", Decimal(int(23.5 * GiB))) == "23.5 GiB"
    assert format_amount("mem", Decimal(512)) == "512 B"
    assert format_amount("cpu", Decimal("0.50")) == "0.5"
    assert format_amount("cuda.device", Decimal(2)) == "2"


def test_fifo_orders_oldest_first():
    new, old = session(age=5), session(age=1)
    assert get_policy("fifo").order([new, old]) == [old, new]


def test_a_gpu_shortage_names_the_device_slot():
    gpu_node = agent("a1")
    gpu_node = replace(
        gpu_node,
        available=gpu_node.available + {"cuda.device": Decimal(2)},
        occupied=gpu_node.occupied + {"cuda.device": Decimal(2)},
    )
    request = slots(1, 1) + {"cuda.device": Decimal(1)}
    assert shortage_message("default", request, [gpu_node, agent("a2")]) == (
        "no agent in resource group 'default' has cuda.device 1 free (largest free: 0)"
    )
