"""Human-readable messages saying which capacity a pending session lacks."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal

from libs.core.slots import MEM, ResourceSlots
from services.scheduler.domain.model import Agent

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def shortage_message(resource_group: str, request: ResourceSlots, agents: Sequence[Agent]) -> str:
    """E.g. "no agent in resource group 'default' has mem 64 GiB free (largest free: 23 GiB)"."""
    alive = [a for a in agents if a.alive and a.resource_group == resource_group]
    if not alive:
        return f"no alive agent in resource group '{resource_group}'"
    largest = {slot: max(max(a.free[slot], Decimal(0)) for a in alive) for slot in request}
    short = [slot for slot in sorted(request) if request[slot] > largest[slot]]
    if not short:
        wanted = _amounts(request, sorted(request))
        return f"no single agent in resource group '{resource_group}' has {wanted} free at once"
    have = (
        format_amount(short[0], largest[short[0]]) if len(short) == 1 else _amounts(largest, short)
    )
    return (
        f"no agent in resource group '{resource_group}' has {_amounts(request, short)} free "
        f"(largest free: {have})"
    )


def format_amount(slot: str, amount: Decimal) -> str:
    """Memory-like slots in binary units ("23.5 GiB"), everything else as a plain number."""
    if slot != MEM and not slot.endswith(".mem"):
        return _plain(amount)
    unit = 0
    while abs(amount) >= 1024 and unit < len(_BINARY_UNITS) - 1:
        amount /= 1024
        unit += 1
    # Round down: never claim more free capacity than there is.
    return f"{_plain(amount.quantize(Decimal('0.01'), rounding=ROUND_DOWN))} {_BINARY_UNITS[unit]}"


def _amounts(slots: ResourceSlots | dict[str, Decimal], names: Sequence[str]) -> str:
    return ", ".join(f"{name} {format_amount(name, slots[name])}" for name in names)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")
