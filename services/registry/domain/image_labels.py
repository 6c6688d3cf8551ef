"""The ai.backend.* labels of an image: parsed and validated once, used everywhere."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from libs.core.slots import MEM

KERNELSPEC = "ai.backend.kernelspec"
FEATURES = "ai.backend.features"
RUNTIME_PATH = "ai.backend.runtime-path"
SERVICE_PORTS = "ai.backend.service-ports"
MIN_PREFIX = "ai.backend.resource.min."
SUPPORTED_KERNELSPEC = 1
PROTOCOLS = frozenset({"http", "tcp", "pty", "preopen"})
# Ports the kernel runner itself uses inside a kernel (Backend.AI reserves the same range).
RESERVED_PORTS = frozenset({2000, 2001, 2002, 2003})

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


class LabelError(ValueError):
    """A label is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str
    protocol: str
    container_ports: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSpec:
    kernelspec: int
    features: tuple[str, ...] = ()
    runtime_path: str = ""
    service_ports: tuple[ServicePort, ...] = ()
    min_resources: Mapping[str, Decimal] = field(default_factory=dict)


def parse_labels(labels: Mapping[str, str]) -> ImageSpec:
    """The image's spec; LabelError when it is not a Shipyard/Backend.AI kernel image."""
    raw = labels.get(KERNELSPEC)
    if raw is None:
        raise LabelError(f"missing {KERNELSPEC}")
    try:
        kernelspec = int(raw)
    except ValueError:
        raise LabelError(f"{KERNELSPEC} must be an integer, got {raw!r}") from None
    if kernelspec != SUPPORTED_KERNELSPEC:
        raise LabelError(f"{KERNELSPEC} {kernelspec} is not supported (only 1)")
    return ImageSpec(
        kernelspec=kernelspec,
        features=tuple(labels.get(FEATURES, "").split()),
        runtime_path=labels.get(RUNTIME_PATH, "").strip(),
        service_ports=parse_service_ports(labels.get(SERVICE_PORTS, "")),
        min_resources=_minimums(labels),
    )


def parse_service_ports(text: str) -> tuple[ServicePort, ...]:
    """`name:protocol:port` or `name:protocol:[p1,p2]`, comma separated."""
    ports: list[ServicePort] = []
    names: set[str] = set()
    for item in _split_top_level(text):
        parts = item.split(":", 2)
        if len(parts) != 3:
            raise LabelError(f"{SERVICE_PORTS}: {item!r} is not name:protocol:port")
        name, protocol, port_text = (p.strip() for p in parts)
        if protocol not in PROTOCOLS:
            raise LabelError(f"{SERVICE_PORTS}: unknown protocol {protocol!r} in {item!r}")
        if name in names:
            raise LabelError(f"{SERVICE_PORTS}: duplicate service {name!r}")
        numbers = port_text.strip("[]").split(",")
        try:
            container_ports = tuple(int(n) for n in numbers)
        except ValueError:
            raise LabelError(f"{SERVICE_PORTS}: bad port in {item!r}") from None
        for port in container_ports:
            if not 1 <= port <= 65535 or port in RESERVED_PORTS:
                raise LabelError(f"{SERVICE_PORTS}: port {port} of {name!r} is not allowed")
        names.add(name)
        ports.append(ServicePort(name, protocol, container_ports))
    return tuple(ports)


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside [...] lists."""
    items, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        depth += (char == "[") - (char == "]")
        current += char
    items.append(current)
    return [i.strip() for i in items if i.strip()]


def _minimums(labels: Mapping[str, str]) -> dict[str, Decimal]:
    minimums: dict[str, Decimal] = {}
    for key, value in labels.items():
        if not key.startswith(MIN_PREFIX):
            continue
        slot = key.removeprefix(MIN_PREFIX)
        amount = parse_size(value) if slot == MEM else _decimal(value)
        if amount is None or amount < 0:
            raise LabelError(f"{key} must be a non-negative amount, got {value!r}")
        minimums[slot] = amount
    return minimums


def parse_size(text: str) -> Decimal | None:
    """Bytes from "1g", "256m", "512MiB", "1073741824" (binary units, as Backend.AI)."""
    match = _SIZE.match(text)
    if match is None:
        return None
    return (Decimal(match.group(1)) * _UNITS[match.group(2).lower()]).to_integral_value()


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None
