"""Sharing accelerator devices among kernels: whole devices, fractions, release, restarts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from libs.core.errors import InvalidArgument
from libs.core.slots import ResourceSlots
from services.agent.adapters.allocation_ledger import JsonAllocationLedger
from services.agent.domain.devices import (
    AllocationMode,
    Device,
    DevicePool,
    DevicesExhausted,
    UnknownDeviceSlot,
)
from services.agent.service.accelerators import Accelerators

D = Decimal


def gpus(n: int) -> list[Device]:
    return [
        Device(device_id=f"gpu{i}", name="G", memory_bytes=1 << 30, nodes=(f"/d/nvidia{i}",))
        for i in range(n)
    ]


def pool(n: int, mode: AllocationMode = AllocationMode.DISCRETE) -> DevicePool:
    return DevicePool(
        family="cuda",
        mode=mode,
        devices=gpus(n),
        shared_nodes=["/d/nvidiactl"],
        visible_env="CUDA_VISIBLE_DEVICES",
    )


def test_whole_devices_go_to_one_kernel_each_until_none_is_left() -> None:
    p = pool(2)
    assert p.capacity() == {"cuda.device": D(2)}
    a = p.allocate("k1", D(1))
    b = p.allocate("k2", D(1))
    assert a.devices == ("/d/nvidia0", "/d/nvidiactl")
    assert b.devices == ("/d/nvidia1", "/d/nvidiactl")
    assert (a.environ, b.environ) == (
        {"CUDA_VISIBLE_DEVICES": "gpu0"},
        {"CUDA_VISIBLE_DEVICES": "gpu1"},
    )
    with pytest.raises(DevicesExhausted, match=r"cuda\.device 1 requested, 0 free"):
        p.allocate("k3", D(1))


def test_released_devices_serve_the_next_kernel() -> None:
    p = pool(2)
    p.allocate("k1", D(1))
    p.allocate("k2", D(1))
    assert p.release("k1") is True
    assert p.release("k1") is False  # twice is harmless
    assert p.allocate("k3", D(1)).allocations == {"cuda.device": {"gpu0": D(1)}}


def test_allocating_twice_for_one_kernel_returns_the_same_devices() -> None:
    p = pool(2)
    first = p.allocate("k1", D(1))
    assert p.allocate("k1", D(1)) == first
    assert p.free() == {"gpu0": D(0), "gpu1": D(1)}


def test_a_fraction_of_a_whole_device_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="whole number"):
        pool(2).allocate("k1", D("0.5"))


def test_shares_stack_on_the_fullest_device_that_fits() -> None:
    p = pool(2, AllocationMode.FRACTIONAL)
    assert p.capacity() == {"cuda.shares": D(2)}
    p.allocate("k1", D("0.5"))
    # Best fit: gpu0 has 0.5 free and takes 0.3, keeping gpu1 whole for a big request.
    got = p.allocate("k2", D("0.3"))
    assert got.allocations == {"cuda.shares": {"gpu0": D("0.3")}}
    assert got.environ["SHIPYARD_CUDA_SHARES"] == "gpu0:0.3"
    assert p.allocate("k3", D(1)).allocations == {"cuda.shares": {"gpu1": D(1)}}
    assert p.free() == {"gpu0": D("0.2"), "gpu1": D(0)}


def test_a_large_share_request_spreads_over_devices_and_frees_them_all() -> None:
    p = pool(2, AllocationMode.FRACTIONAL)
    p.allocate("k1", D("0.4"))
    got = p.allocate("k2", D("1.5"))
    assert got.allocations == {"cuda.shares": {"gpu0": D("0.5"), "gpu1": D(1)}}
    assert got.environ["CUDA_VISIBLE_DEVICES"] == "gpu0,gpu1"
    assert got.devices == ("/d/nvidia0", "/d/nvidia1", "/d/nvidiactl")
    with pytest.raises(DevicesExhausted):
        p.allocate("k3", D("0.2"))
    p.release("k2")
    assert p.free() == {"gpu0": D("0.6"), "gpu1": D(1)}


def test_shares_finer_than_a_hundredth_are_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"multiple of 0\.01"):
        pool(1, AllocationMode.FRACTIONAL).allocate("k1", D("0.125"))


def test_a_request_for_a_slot_no_plugin_provides_is_refused() -> None:
    acc = Accelerators([pool(1)])
    with pytest.raises(UnknownDeviceSlot, match=r"rocm\.device"):
        acc.allocate("k1", {"cpu": D(1), "rocm.device": D(1)})


def test_a_failed_request_leaves_nothing_held() -> None:
    shares = DevicePool(
        family="tpu", mode=AllocationMode.FRACTIONAL, devices=gpus(1), visible_env=""
    )
    acc = Accelerators([pool(1), shares])
    with pytest.raises(DevicesExhausted):
        acc.allocate("k1", {"cuda.device": D(1), "tpu.shares": D(2)})
    assert acc.held() == {}
    assert acc.allocate("k2", {"cuda.device": D(1)}).devices[0] == "/d/nvidia0"


def test_slots_and_nodes_cover_every_plugin() -> None:
    acc = Accelerators([pool(2)])
    assert acc.slots() == ResourceSlots({"cuda.device": 2})
    assert acc.nodes() == ("/d/nvidia0", "/d/nvidia1", "/d/nvidiactl")
    assert Accelerators().slots() == ResourceSlots()


def test_two_plugins_reporting_one_slot_are_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"cuda\.device"):
        Accelerators([pool(1), pool(1)])


def test_a_restarted_agent_keeps_the_devices_of_surviving_kernels_only(tmp_path: Path) -> None:
    path = tmp_path / "allocations.json"
    ledger = JsonAllocationLedger(path)
    before = Accelerators([pool(2, AllocationMode.FRACTIONAL)], ledger)
    before.allocate("survivor", {"cuda.shares": D("1.25")})
    before.allocate("gone", {"cuda.shares": D("0.5")})

    after = Accelerators([pool(2, AllocationMode.FRACTIONAL)], JsonAllocationLedger(path))
    after.restore(["survivor", "never-held-devices"])
    assert after.held() == {"survivor": {"cuda.shares": {"gpu0": D(1), "gpu1": D("0.25")}}}
    # What "gone" held is free again, what the survivor holds is not.
    with pytest.raises(DevicesExhausted):
        after.allocate("big", {"cuda.shares": D("0.8")})
    assert after.allocate("fits", {"cuda.shares": D("0.75")}).allocations == {
        "cuda.shares": {"gpu1": D("0.75")}
    }
    # The pruned map was saved: a second restart does not resurrect "gone".
    assert set(ledger.load()) == {"survivor", "fits"}


def test_releasing_saves_the_map(tmp_path: Path) -> None:
    ledger = JsonAllocationLedger(tmp_path / "allocations.json")
    acc = Accelerators([pool(1)], ledger)
    acc.allocate("k1", {"cuda.device": D(1)})
    assert ledger.load() == {"k1": {"cuda.device": {"gpu0": D(1)}}}
    acc.release("k1")
    assert ledger.load() == {}


def test_an_unreadable_map_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "allocations.json"
    path.write_text("{not json")
    acc = Accelerators([pool(1)], JsonAllocationLedger(path))
    acc.restore(["k1"])
    assert acc.held() == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"cuda.device": "0.5"}, "resources.cuda.device must be a whole number"),
        ({"cuda.shares": "0.125"}, "resources.cuda.shares must be a multiple of 0.01"),
    ],
)
def test_session_requests_are_checked_against_the_slot_kind(
    raw: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ResourceSlots.parse(raw)


def test_whole_devices_and_decimal_shares_parse_and_compare() -> None:
    request = ResourceSlots.parse({"cuda.device": "1", "cuda.shares": "0.50"})
    assert request.fits_in({"cuda.device": D(2), "cuda.shares": D("0.5")})
    assert not request.fits_in({"cuda.device": D(2)})  # a slot the agent lacks never fits
    assert request.shortage({"cuda.device": D(0), "cuda.shares": D(1)}) == {"cuda.device": D(1)}
