"""Ports of OpenTerminal: the agents' terminals and the session activity record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from services.registry.domain.model import TerminalChunk


class AgentTerminal(Protocol):
    """A shell on a PTY in a kernel, through its agent."""

    async def send(self, data: bytes = b"", size: tuple[int, int] | None = None) -> None:
        """Keystrokes and/or a new window size (rows, cols)."""
        ...

    def chunks(self) -> AsyncIterator[TerminalChunk]:
        """Output as it comes, then the exit code. Raises the agent's error if it failed."""
        ...

    async def hang_up(self) -> None:
        """No more input: the shell gets SIGHUP, and its end closes the output."""
        ...

    async def close(self) -> None:
        """Drop the terminal (whatever its state) and what it holds. Idempotent."""
        ...


class AgentTerminals(Protocol):
    async def open(
        self, address: str, kernel_id: str, size: tuple[int, int] | None
    ) -> AgentTerminal: ...


class SessionActivity(Protocol):
    async def touch(self, session_id: str) -> None:
        """Record that the session was used now (the idle checker reads it)."""
        ...
