"""The agent's accelerators: every plugin's pool, the slots they add, grants and their release.

The allocation map is saved after every change, and after a restart re-derived from it keeping
only kernels that are still alive (adopted containers); everything else is free again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from libs.core.errors import InvalidArgument
from libs.core.slots import CPU, MEM, ResourceSlots
from services.agent.domain.devices import DeviceGrant, DevicePool, UnknownDeviceSlot
from services.agent.service.ports import AllocationLedger, HeldDevices

log = logging.getLogger(__name__)

_INTRINSIC = (CPU, MEM)


class Accelerators:
    def __init__(
        self, pools: Sequence[DevicePool] = (), ledger: AllocationLedger | None = None
    ) -> None:
        by_slot: dict[str, DevicePool] = {}
        for pool in pools:
            if pool.slot in by_slot:
                raise InvalidArgument(f"two accelerator plugins report the slot {pool.slot}")
            by_slot[pool.slot] = pool
        self._pools = by_slot
        self._ledger = ledger

    def slots(self) -> ResourceSlots:
        """The capacity the plugins add to cpu and mem (e.g. {"cuda.device": 2})."""
        total: dict[str, Decimal] = {}
        for pool in self._pools.values():
            total |= pool.capacity()
        return ResourceSlots(total)

    def nodes(self) -> tuple[str, ...]:
        """Every device node the agent manages; a kernel may see only those it was granted."""
        return tuple(n for pool in self._pools.values() for n in pool.nodes())

    def allocate(self, kernel_id: str, requested: Mapping[str, Decimal]) -> DeviceGrant:
        """All accelerator slots of a request, or none (a failure releases what was taken)."""
        wanted = {s: a for s, a in requested.items() if s not in _INTRINSIC and a > 0}
        unknown = sorted(s for s in wanted if s not in self._pools)
        if unknown:
            raise UnknownDeviceSlot(
                f"this agent has no accelerator providing {', '.join(unknown)}",
                metadata={"kernel_id": kernel_id, "slots": ",".join(unknown)},
            )
        grant = DeviceGrant()
        taken: list[DevicePool] = []
        try:
            for slot, amount in sorted(wanted.items()):
                pool = self._pools[slot]
                grant = grant.merged(pool.allocate(kernel_id, amount))
                taken.append(pool)
        except Exception:
            for pool in taken:
                pool.release(kernel_id)
            raise
        if taken:
            self._save()
            held = {
                slot: {dev: format(a.normalize(), "f") for dev, a in devs.items()}
                for slot, devs in grant.allocations.items()
            }
            log.info("kernel %s holds %s", kernel_id, held)
        return grant

    def release(self, kernel_id: str) -> None:
        released = [pool.release(kernel_id) for pool in self._pools.values()]
        if any(released):
            self._save()
            log.info("kernel %s released its devices", kernel_id)

    def restore(self, live_kernel_ids: Iterable[str]) -> None:
        """Re-derive the allocation map after a restart from the kernels still alive."""
        if self._ledger is None:
            return
        live = set(live_kernel_ids)
        saved = self._ledger.load()
        for kernel_id, by_slot in saved.items():
            if kernel_id not in live:
                continue
            for slot, allocation in by_slot.items():
                pool = self._pools.get(slot)
                if pool is None:
                    log.warning(
                        "kernel %s held %s, which this agent no longer has", kernel_id, slot
                    )
                    continue
                if missing := pool.restore(kernel_id, allocation):
                    log.warning("kernel %s held devices that are gone: %s", kernel_id, missing)
        gone = sorted(set(saved) - live)
        if gone:
            log.info("freed the devices of kernels that did not survive the restart: %s", gone)
        self._save()

    def held(self) -> dict[str, dict[str, dict[str, Decimal]]]:
        out: dict[str, dict[str, dict[str, Decimal]]] = {}
        for slot, pool in self._pools.items():
            for kernel_id, allocation in pool.held().items():
                out.setdefault(kernel_id, {})[slot] = allocation
        return out

    def _save(self) -> None:
        if self._ledger is not None:
            held: HeldDevices = self.held()
            self._ledger.save(held)
