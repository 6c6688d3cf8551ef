"""Back-off delays and the outage classifier of libs/events."""

from __future__ import annotations

import socket

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.core.errors import Internal, Unavailable
from libs.events.backoff import Backoff
from libs.events.outage import is_outage


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(base=0.1, cap=2.0, floor=0.01, rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_jitter_never_goes_below_the_floor() -> None:
    backoff = Backoff(base=0.1, cap=2.0, floor=0.05, rand=lambda: 0.0)
    assert {backoff.next_delay() for _ in range(5)} == {0.05}


def test_reset_starts_over() -> None:
    backoff = Backoff(base=0.1, cap=2.0, floor=0.01, rand=lambda: 1.0)
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 0.1


def test_nonsense_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="floor <= base <= cap"):
        Backoff(base=10.0, cap=1.0)


async def test_postgresql_refusing_connections_is_an_outage() -> None:
    with pytest.raises(OSError) as raised:
        await asyncpg.connect(host="127.0.0.1", port=_closed_port(), user="x", timeout=2)
    assert is_outage(raised.value)


async def test_sqlalchemy_wrapping_a_refused_connection_is_an_outage() -> None:
    engine = create_async_engine(f"postgresql+asyncpg://x@127.0.0.1:{_closed_port()}/x")
    try:
        with pytest.raises(Exception) as raised:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert is_outage(raised.value)


def test_an_outage_behind_a_domain_error_is_found_in_the_chain() -> None:
    try:
        try:
            raise ConnectionResetError("peer went away")
        except ConnectionResetError as inner:
            raise RuntimeError("could not apply event") from inner
    except RuntimeError as exc:
        assert is_outage(exc)


def test_bad_data_is_not_an_outage() -> None:
    assert not is_outage(ValueError("no such field"))
    assert not is_outage(Internal("bug"))
    assert is_outage(Unavailable("agent is down"))
