"""Reading a resource group's scheduler options (strings, as the registry stores them)."""

from __future__ import annotations

from collections.abc import Mapping

from services.scheduler.domain.errors import InvalidPolicyOption


def int_option(options: Mapping[str, str] | None, key: str, *, default: int) -> int:
    raw = (options or {}).get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidPolicyOption(key, f"must be an integer, got {raw!r}") from None
