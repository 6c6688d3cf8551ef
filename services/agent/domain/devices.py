"""Accelerator devices and how a node's devices are shared out among its kernels.

A plugin (cuda, mock, ...) detects devices; a `DevicePool` turns them into one slot and hands
them to kernels. A pool works in one of two modes (Backend.AI's names):
- discrete, slot `<family>.device`: a whole number of devices, each held by one kernel;
- fractional, slot `<family>.shares`: one device is 1 share; a request of at most one share
  lands on a single device (the fullest that still fits), a larger one spreads over several, so
  any request up to the pool's free total can be served (the scheduler only sees that total).
Pure: the allocation map lives here, its persistence and the device nodes elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from libs.core.errors import FailedPrecondition, InvalidArgument, ResourceExhausted

# Fractional requests are counted in hundredths of a device.
SHARE_QUANTUM = Decimal("0.01")
_ZERO = Decimal(0)
_ONE = Decimal(1)


class AllocationMode(StrEnum):
    DISCRETE = "device"
    FRACTIONAL = "shares"


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """One accelerator as detected: `device_id` is stable across restarts (a GPU UUID)."""

    device_id: str
    name: str
    memory_bytes: int
    # Host device nodes that belong to this device alone (e.g. /dev/nvidia0).
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceGrant:
    """What a kernel gets: device nodes to expose, variables to set, and the amounts taken.

    `allocations` is slot -> device id -> amount, what the agent remembers (and persists) to
    re-derive its allocation map after a restart.
    """

    devices: tuple[str, ...] = ()
    environ: Mapping[str, str] = field(default_factory=dict)
    allocations: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)

    def merged(self, other: DeviceGrant) -> DeviceGrant:
        return DeviceGrant(
            devices=(*self.devices, *(d for d in other.devices if d not in self.devices)),
            environ={**self.environ, **other.environ},
            allocations={**self.allocations, **other.allocations},
        )


class DevicesExhausted(ResourceExhausted):
    reason = "DEVICES_EXHAUSTED"


class UnknownDeviceSlot(FailedPrecondition):
    reason = "UNKNOWN_DEVICE_SLOT"


class DevicePool:
    """The devices of one plugin, which kernel holds how much of which, and the grants."""

    def __init__(
        self,
        *,
        family: str,
        mode: AllocationMode,
        devices: Sequence[Device],
        shared_nodes: Sequence[str] = (),
        visible_env: str = "",
    ) -> None:
        ids = [d.device_id for d in devices]
        if len(set(ids)) != len(ids):
            raise InvalidArgument(f"{family} device ids must be unique, got {ids}")
        self.family = family
        self.mode = mode
        self.slot = f"{family}.{mode.value}"
        self.devices = tuple(devices)
        # Nodes every kernel holding any device needs (/dev/nvidiactl, /dev/nvidia-uvm).
        self.shared_nodes = tuple(shared_nodes)
        # The variable naming the granted devices, e.g. CUDA_VISIBLE_DEVICES (advisory only:
        # what a kernel can reach is decided by the nodes it is given).
        self.visible_env = visible_env
        self._by_id = {d.device_id: d for d in devices}
        self._held: dict[str, dict[str, Decimal]] = {}  # kernel id -> device id -> amount

    # -- what the node offers -------------------------------------------------------------

    def capacity(self) -> dict[str, Decimal]:
        return {self.slot: Decimal(len(self.devices))} if self.devices else {}

    def nodes(self) -> tuple[str, ...]:
        """Every host node this pool manages: kernels must see none but their own."""
        own = tuple(n for d in self.devices for n in d.nodes)
        return (*own, *self.shared_nodes) if self.devices else ()

    def free(self) -> dict[str, Decimal]:
        """Per device id, the share not held by any kernel."""
        used: dict[str, Decimal] = {}
        for held in self._held.values():
            for device_id, amount in held.items():
                used[device_id] = used.get(device_id, _ZERO) + amount
        return {d.device_id: _ONE - used.get(d.device_id, _ZERO) for d in self.devices}

    def held(self) -> dict[str, dict[str, Decimal]]:
        return {k: dict(v) for k, v in self._held.items()}

    # -- allocation -----------------------------------------------------------------------

    def allocate(self, kernel_id: str, amount: Decimal) -> DeviceGrant:
        """Take `amount` of this pool's slot for a kernel. Idempotent per kernel id."""
        if kernel_id in self._held:
            return self._grant(self._held[kernel_id])
        if amount <= 0:
            return DeviceGrant()
        self._check_amount(amount)
        free = self.free()
        if amount > sum(free.values(), _ZERO):
            raise DevicesExhausted(
                f"{self.slot} {amount} requested, {sum(free.values(), _ZERO)} free on this agent",
                metadata={"slot": self.slot, "kernel_id": kernel_id},
            )
        if self.mode is AllocationMode.DISCRETE:
            whole = [d for d in self.devices if free[d.device_id] == _ONE]
            if len(whole) < amount:
                raise DevicesExhausted(
                    f"{self.slot} {amount} requested, {len(whole)} whole devices free",
                    metadata={"slot": self.slot, "kernel_id": kernel_id},
                )
            taken = {d.device_id: _ONE for d in whole[: int(amount)]}
        else:
            taken = _spread(amount, free, [d.device_id for d in self.devices])
        self._held[kernel_id] = taken
        return self._grant(taken)

    def restore(self, kernel_id: str, allocation: Mapping[str, Decimal]) -> list[str]:
        """Hold again what a live kernel held before a restart; returns device ids now missing."""
        missing = [d for d in allocation if d not in self._by_id]
        kept = {d: Decimal(a) for d, a in allocation.items() if d in self._by_id and a > 0}
        if kept:
            self._held[kernel_id] = kept
        return missing

    def release(self, kernel_id: str) -> bool:
        return self._held.pop(kernel_id, None) is not None

    def grant_of(self, kernel_id: str) -> DeviceGrant | None:
        held = self._held.get(kernel_id)
        return None if held is None else self._grant(held)

    # -- internals ------------------------------------------------------------------------

    def _check_amount(self, amount: Decimal) -> None:
        if self.mode is AllocationMode.DISCRETE and amount != amount.to_integral_value():
            raise InvalidArgument(
                f"{self.slot} must be a whole number of devices, got {amount}",
                metadata={"slot": self.slot},
            )
        if self.mode is AllocationMode.FRACTIONAL and amount % SHARE_QUANTUM != 0:
            raise InvalidArgument(
                f"{self.slot} must be a multiple of {SHARE_QUANTUM}, got {amount}",
                metadata={"slot": self.slot},
            )

    def _grant(self, held: Mapping[str, Decimal]) -> DeviceGrant:
        ordered = [d for d in self.devices if d.device_id in held]
        env = {self.visible_env: ",".join(d.device_id for d in ordered)} if self.visible_env else {}
        if self.mode is AllocationMode.FRACTIONAL:
            # For frameworks that can cap themselves (e.g. a per-process memory fraction).
            env[f"SHIPYARD_{self.family.upper()}_SHARES"] = ",".join(
                f"{d.device_id}:{format(held[d.device_id].normalize(), 'f')}" for d in ordered
            )
        nodes = tuple(n for d in ordered for n in d.nodes)
        return DeviceGrant(
            devices=(*nodes, *self.shared_nodes),
            environ=env,
            allocations={self.slot: {d.device_id: held[d.device_id] for d in ordered}},
        )


def _spread(
    amount: Decimal, free: Mapping[str, Decimal], order: Iterable[str]
) -> dict[str, Decimal]:
    """Best fit on one device when it can be had; else fill the freest devices first."""
    ordered = list(order)
    fitting = [d for d in ordered if free[d] >= amount]
    if fitting:
        best = min(fitting, key=lambda d: (free[d], ordered.index(d)))
        return {best: amount}
    taken: dict[str, Decimal] = {}
    remaining = amount
    for device_id in sorted(ordered, key=lambda d: (-free[d], ordered.index(d))):
        if remaining <= 0:
            break
        part = min(free[device_id], remaining)
        if part > 0:
            taken[device_id] = part
            remaining -= part
    return taken
