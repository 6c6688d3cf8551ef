"""Bounded retries for transactions that lost a serialization or deadlock race."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

T = TypeVar("T")

# SQLSTATEs worth retrying: serialization_failure and deadlock_detected. Nothing else is
# retried (retrying other errors only adds load; rule R-RETRY-SCOPE).
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


async def with_retry(
    work: Callable[[], Awaitable[T]], *, attempts: int = 10, base_delay: float = 0.01
) -> T:
    """Run `work` (one whole transaction) again on serialization failures, with backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except DBAPIError as exc:
            if _sqlstate(exc) not in RETRYABLE_SQLSTATES or attempt == attempts:
                raise
            delay = base_delay * (2 ** (attempt - 1)) * (0.5 + random.random())
            log.info("transaction conflict (attempt %d), retrying in %.3fs", attempt, delay)
            await asyncio.sleep(min(delay, 1.0))
    raise AssertionError("unreachable")
