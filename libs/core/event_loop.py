"""The event loop the services run on: uvloop unless `SHIPYARD_EVENT_LOOP=asyncio` (the agent
keeps the standard loop: docs/decisions.md D8).

uvloop (libuv) runs the same asyncio code with less Python per socket operation and per
callback: the registry's CPU per GetSession fell by a tenth to a quarter, most of it in the
PostgreSQL and Redis round trips (docs/decisions.md, D8; docs/performance.md). gRPC's
asyncio stack works on any loop (it polls its own completion queue and wakes the loop), so
nothing else changes. `asyncio` keeps the standard loop, to rule uvloop out when chasing a bug.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")

ENV = "SHIPYARD_EVENT_LOOP"
CHOICES = ("uvloop", "asyncio")


def chosen() -> str:
    """The loop named by the environment (default uvloop); ValueError names a wrong value."""
    name = os.environ.get(ENV, "").strip().lower() or "uvloop"
    if name not in CHOICES:
        msg = f"{ENV} must be one of {', '.join(CHOICES)}, not {name!r}"
        raise ValueError(msg)
    return name


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on the chosen loop, as `asyncio.run` does."""
    try:
        name = chosen()
    except ValueError:
        main.close()  # never awaited: no "coroutine was never awaited" warning on the way out
        raise
    if name == "uvloop":
        return uvloop.run(main)
    return asyncio.run(main)
