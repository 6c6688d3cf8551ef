"""How `shipyard admin` prints: a plain table by default, JSON with --json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def render(data: Any, columns: Sequence[str], *, as_json: bool) -> str:
    """`data` is one object or a list of objects; tables show `columns` of each."""
    if as_json:
        return json.dumps(data, indent=2, sort_keys=True)
    rows = data if isinstance(data, list) else [data]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        amounts = value.get("amounts", value)
        return ",".join(f"{k}={v}" for k, v in sorted(amounts.items())) or "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_slots(text: str) -> dict[str, str]:
    """`cpu=4,mem=8g` as ResourceSlots amounts (sizes with k/m/g/t suffixes in bytes)."""
    amounts: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name or not value:
            raise SystemExit(f"bad slot {part!r}: expected NAME=AMOUNT, e.g. cpu=4,mem=8g")
        amounts[name.strip()] = _amount(value.strip())
    return amounts


def _amount(text: str) -> str:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    lowered = text.lower().removesuffix("b").removesuffix("i")
    if lowered and lowered[-1] in units:
        return str(int(float(lowered[:-1]) * units[lowered[-1]]))
    return text


def split_list(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]
