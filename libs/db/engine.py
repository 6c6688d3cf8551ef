"""Async engine and session factories for one service schema.

No ping per checkout: SQLAlchemy's `pool_pre_ping` sends BEGIN, an empty query and ROLLBACK (three
round trips) before every transaction. Instead, a checkout looks at the asyncpg connection's own
state, which costs nothing: a connection the server closed (restart, failover,
`pg_terminate_backend`) is marked closed once its socket's end reaches the event loop, and is then
replaced before it is handed out. A connection that fails mid-transaction is invalidated by
SQLAlchemy's disconnect handling and the transaction fails as it would with a ping.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection


def _refuse_closed(
    _dbapi_connection: Any, _record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    """The pool catches `DisconnectionError`, discards this connection and opens a new one."""
    driver = proxy.driver_connection
    if driver is None or driver.is_closed():
        raise DisconnectionError("connection closed by the server while idle in the pool")


def create_engine(dsn: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An asyncpg engine. `dsn` may be `postgresql://…`; the driver is filled in."""
    if dsn.startswith(("postgresql://", "postgres://")):
        dsn = "postgresql+asyncpg://" + dsn.split("://", 1)[1]
    engine = create_async_engine(dsn, pool_size=pool_size, max_overflow=pool_size, echo=echo)
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
