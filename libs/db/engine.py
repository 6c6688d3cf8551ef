"""Async engine and session factories for one service schema."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(dsn: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An asyncpg engine. `dsn` may be `postgresql://…`; the driver is filled in."""
    if dsn.startswith(("postgresql://", "postgres://")):
        dsn = "postgresql+asyncpg://" + dsn.split("://", 1)[1]
    return create_async_engine(
        dsn, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, echo=echo
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
