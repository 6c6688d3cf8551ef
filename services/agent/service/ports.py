"""Ports of the agent's application layer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from services.agent.domain.devices import DevicePool
from services.agent.domain.model import (
    ExecMode,
    ExecResult,
    KernelExit,
    KernelHandle,
    KernelSpec,
    KernelUsage,
    TerminalEvent,
)


class KernelBackend(Protocol):
    """Starts, runs code in and stops kernels on this node (process trees, containers, ...)."""

    name: str

    async def create(self, spec: KernelSpec) -> KernelHandle:
        """Start a kernel and return once its runner answers. Raises KernelStartFailed."""
        ...

    async def destroy(self, kernel_id: str, reason: str) -> None:
        """Stop a kernel and free its resources. Idempotent: an unknown id is a no-op."""
        ...

    async def execute(
        self, kernel_id: str, mode: ExecMode, code: str, timeout: float
    ) -> ExecResult:
        """Run code; the kernel stops it after `timeout` s (<= 0: no limit) and says TIMED_OUT.

        Raises KernelNotFound, or KernelUnavailable when the runner does not answer.
        """
        ...

    async def images(self) -> Sequence[str]:
        """Canonical references (registry/repository:tag) of the images present on this node."""
        ...

    async def probe(self) -> str | None:
        """Why a kernel could not start here now (cgroups, sandbox, engine); None when it could."""
        ...

    def list(self) -> list[KernelHandle]:
        """The kernels that are currently running."""
        ...

    async def wait_exit(self) -> KernelExit:
        """The next kernel that ended, whatever the cause (destroyed, exited, task done)."""
        ...

    async def close(self) -> None:
        """Destroy every kernel."""
        ...


class LiveChannel(Protocol):
    """A live execution on one kernel; messages as the runner's live session speaks them
    (kernel_runner/live.py): commands {"op": ...} out, events {"event": ...} in."""

    async def send(self, message: Mapping[str, Any]) -> None: ...

    async def receive(self) -> dict[str, Any] | None:
        """The next event; None once the kernel is gone."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class LiveKernels(Protocol):
    """A backend whose kernels run code live (both real backends)."""

    async def open_live(self, kernel_id: str) -> LiveChannel:
        """Raises KernelNotFound, or KernelUnavailable when the runner does not answer."""
        ...

    async def interrupt(self, kernel_id: str) -> None:
        """Stop the cell running in the kernel; nothing running: a no-op."""
        ...


@runtime_checkable
class PrestartedKernels(Protocol):
    """A backend that keeps kernels started ahead of their sessions (the process backend's
    pool): a start that takes one is over in milliseconds."""

    def hands_out(self, spec: KernelSpec) -> bool:
        """Whether a create of `spec` begun now, in this step of the event loop, takes a
        pre-started kernel (it may still start afresh, if that kernel fails at hand-out)."""
        ...


@runtime_checkable
class KernelStatsSource(Protocol):
    """A backend that measures what its kernels use (docs/idle-and-usage.md)."""

    async def kernel_stats(self) -> Sequence[KernelUsage]:
        """One entry per live kernel it could measure; never raises for one kernel's failure."""
        ...


class Terminal(Protocol):
    """A shell on a PTY in a kernel."""

    async def write(self, data: bytes) -> None:
        """Keystrokes."""
        ...

    async def resize(self, rows: int, cols: int) -> None: ...

    def events(self) -> AsyncIterator[TerminalEvent]:
        """Output as it comes, then the exit code; ends there (or when the kernel is gone)."""
        ...

    async def close(self) -> None:
        """Hang up (the shell gets SIGHUP). Idempotent."""
        ...


@runtime_checkable
class TerminalSource(Protocol):
    """A backend whose kernels can run terminals."""

    async def open_terminal(self, kernel_id: str, rows: int, cols: int) -> Terminal:
        """Raises KernelNotFound, or KernelUnavailable when the runner does not answer."""
        ...


@runtime_checkable
class KernelLogSource(Protocol):
    """A backend that keeps its kernels' console output."""

    async def logs(self, kernel_id: str, tail: int = 0) -> str:
        """The last `tail` lines (0: all kept). Raises KernelNotFound when none are kept."""
        ...


class AcceleratorPlugin(Protocol):
    """A kind of accelerator (`cuda` on NVML, `mock` from a file): finds this node's devices.

    The pool it returns reports the slot and shares the devices out; see domain/devices.py.
    """

    name: str

    def detect(self) -> DevicePool:
        """Raises FailedPrecondition when the devices cannot be read (no driver, bad config)."""
        ...


# kernel id -> slot -> device id -> amount: the allocation map as persisted.
HeldDevices = Mapping[str, Mapping[str, Mapping[str, Decimal]]]


class AllocationLedger(Protocol):
    """Where the agent keeps its allocation map, so a restarted agent can re-derive it."""

    def load(self) -> HeldDevices: ...

    def save(self, held: HeldDevices) -> None: ...


@runtime_checkable
class RestartableKernels(Protocol):
    """A backend whose kernels restart in place (both real backends)."""

    async def restart(self, kernel_id: str) -> None:
        """Raises KernelNotFound, or KernelUnavailable when the new runner does not answer."""
        ...
