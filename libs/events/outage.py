"""Telling a dependency outage from a bad message (rule R-OUTAGE-BACKOFF).

A handler that fails because PostgreSQL or Redis cannot be reached says nothing about the entry
it was given: the entry must wait, not be counted towards parking. `is_outage` recognises the
connection-level errors of the clients the services use, anywhere in the exception's chain
(`raise ... from ...` and implicit context), including a `ShipyardError` with code UNAVAILABLE.
"""

from __future__ import annotations

import asyncpg
from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors

from libs.core.errors import ShipyardError

_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, TimeoutError, socket errors
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionDoesNotExistError,
    sa_errors.TimeoutError,  # the connection pool could not hand out a connection
)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` (or anything in its cause/context chain) is a dependency being unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGE_TYPES):
            return True
        if isinstance(current, sa_errors.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, ShipyardError) and current.code == "UNAVAILABLE":
            return True
        current = current.__cause__ or current.__context__
    return False
