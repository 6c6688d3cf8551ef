"""A pool for hot read paths: plain asyncpg, prepared statements, no ping per checkout.

The ORM and the SQLAlchemy pool cost more per call than the query itself on a primary-key read
(identity map, statement cache keys, a `SELECT 1` before each checkout). Read paths that run on
every request use this pool instead; writes keep the SQLAlchemy engine (transactions, row locks).

Without a ping, a connection the server dropped (restart, failover, `pg_terminate_backend`) is
found when a query fails on it: `fetch`/`fetchrow` then retry once on a fresh connection. Only
reads go through here, so running one again is always safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

# Errors that mean "this connection is gone", not "this query is wrong".
_LOST = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    # The server's FATAL message arrived while the connection sat idle in the pool: the
    # protocol is left mid-operation and refuses the next query.
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
)


async def _init(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep(conn: asyncpg.Connection) -> None:
    """Nothing to undo on release: this pool only runs single SELECTs (no SET, LISTEN, advisory
    lock or open transaction), so asyncpg's default reset would be one more round trip per read."""


class Fields:
    """Attribute access to a record's fields, so the ORM row converters serve both paths."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


class ReadPool:
    def __init__(self, dsn: str, *, size: int = 4) -> None:
        self._dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._size = size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self._size, init=_init, reset=_keep
        )

    async def close(self, timeout: float = 5.0) -> None:
        """Close gracefully; connections still busy after `timeout` seconds are cut."""
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout)
            except TimeoutError:
                self._pool.terminate()

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        rows = await self._run(query, args, limit=1)
        return rows[0] if rows else None

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run(query, args, limit=None)

    async def _run(self, query: str, args: tuple[Any, ...], limit: int | None) -> list[Any]:
        if self._pool is None:
            raise RuntimeError("ReadPool.open() was not awaited")
        for attempt in (1, 2):
            conn = await self._pool.acquire()
            try:
                if limit == 1:
                    row = await conn.fetchrow(query, *args)
                    return [] if row is None else [row]
                return list(await conn.fetch(query, *args))
            except _LOST:
                # Never handed out again: the pool opens a new connection in its place.
                with contextlib.suppress(asyncpg.exceptions.InterfaceError):
                    conn.terminate()
                if attempt == 2:
                    raise
                log.info("read connection lost; retrying on a new one")
            finally:
                await self._pool.release(conn)
        raise AssertionError("unreachable")
