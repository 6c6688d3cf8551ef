"""OpenTerminal: the owner (and admins in reach) get the main kernel's terminal; others are told
the session does not exist, and a session not running has no terminal."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from libs.core.slots import ResourceSlots
from services.registry.domain.errors import SessionNotFound, SessionNotRunning
from services.registry.domain.model import Kernel, Session, Status, TerminalChunk
from services.registry.service.terminal import OpenTerminal
from tests.unit.registry.test_access import ADMIN_A, ADMIN_B, OWNER, PEER, _session


class _Terminal:
    async def send(self, data: bytes = b"", size: tuple[int, int] | None = None) -> None: ...

    async def chunks(self) -> AsyncIterator[TerminalChunk]:
        yield TerminalChunk(exit_code=0)

    async def hang_up(self) -> None: ...

    async def close(self) -> None: ...


class _Terminals:
    def __init__(self) -> None:
        self.opened: list[tuple[str, str, tuple[int, int] | None]] = []

    async def open(self, address: str, kernel_id: str, size: tuple[int, int] | None) -> Any:
        self.opened.append((address, kernel_id, size))
        return _Terminal()


class _Store:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def get(self, session_id: str) -> Session:
        return self.session


def _running() -> Session:
    main = Kernel(
        kernel_id="k1",
        session_id="s1",
        cluster_role="main",
        status=Status.RUNNING,
        status_info="",
        agent_id="a1",
        requested_slots=ResourceSlots(),
        agent_address="10.0.0.5:6001",
    )
    return dataclasses.replace(_session(), kernels=(main,))


def _use_case(session: Session) -> tuple[OpenTerminal, _Terminals]:
    terminals = _Terminals()
    return OpenTerminal(_Store(session), None, terminals), terminals  # type: ignore[arg-type]


@pytest.mark.parametrize("caller", [OWNER, ADMIN_A])
async def test_the_owner_and_their_domain_admin_open_the_main_kernels_terminal(caller):
    open_terminal, terminals = _use_case(_running())

    await open_terminal(caller, "s1", (30, 100))

    assert terminals.opened == [("10.0.0.5:6001", "k1", (30, 100))]


@pytest.mark.parametrize("caller", [PEER, ADMIN_B])
async def test_anyone_else_is_told_the_session_does_not_exist(caller):
    open_terminal, terminals = _use_case(_running())

    with pytest.raises(SessionNotFound):
        await open_terminal(caller, "s1", None)
    assert terminals.opened == []


async def test_a_session_that_is_not_running_has_no_terminal():
    pending = dataclasses.replace(_running(), status=Status.PENDING)
    open_terminal, terminals = _use_case(pending)

    with pytest.raises(SessionNotRunning):
        await open_terminal(OWNER, "s1", None)
    assert terminals.opened == []
