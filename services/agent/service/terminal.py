"""OpenTerminal: a shell on a PTY in one of this agent's kernels."""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.errors import FailedPrecondition
from services.agent.service.ports import KernelBackend, Terminal, TerminalSource

DEFAULT_ROWS, DEFAULT_COLS = 24, 80


def terminal_source(backend: KernelBackend) -> TerminalSource:
    if not isinstance(backend, TerminalSource):
        raise FailedPrecondition(
            f"the {backend.name} backend runs no terminals", reason="TERMINALS_UNSUPPORTED"
        )
    return backend


@dataclass(frozen=True, slots=True)
class OpenTerminal:
    backend: KernelBackend

    async def __call__(self, kernel_id: str, rows: int = 0, cols: int = 0) -> Terminal:
        source = terminal_source(self.backend)
        return await source.open_terminal(kernel_id, rows or DEFAULT_ROWS, cols or DEFAULT_COLS)
