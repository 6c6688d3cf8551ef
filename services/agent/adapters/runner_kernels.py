"""The kernel table both kernel backends share: which kernels run, starting one until its runner
answers, watching it until it ends (then one `KernelExit`), stopping it (SIGTERM, then SIGKILL
after the grace period), and reaching its runner for executions, interrupts and terminals.
A backend says how a kernel starts, signals, ends and is cleaned up (the abstract methods).
Every request that can run session code reaches a runner through `execute`, `open_live` or
`runner`: there a kernel's start-up CPU boost (`cpu_boost.py`) ends first.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from services.agent.adapters.cpu_boost import CpuBoost
from services.agent.adapters.kernel_execute import execute_on_runner, not_running
from services.agent.adapters.kernel_spec_checks import spec_metadata
from services.agent.adapters.runner_client import RunnerClient
from services.agent.adapters.runner_session import RunnerSession
from services.agent.adapters.runner_terminal import RunnerTerminal
from services.agent.domain import model as m

log = logging.getLogger(__name__)

Signal = Literal["SIGTERM", "SIGKILL"]


@dataclass(eq=False, kw_only=True)
class RunnerKernel:
    """One kernel in the table; a backend subclasses it with what it needs to reach the kernel."""

    spec: m.KernelSpec
    handle: m.KernelHandle
    client: RunnerClient
    batch: bool  # it runs a startup command: ending is its normal outcome
    monitor: asyncio.Task[None] | None = None
    stop_reason: str | None = None
    report: bool = True  # False when create() failed: nobody has a handle to hear about
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # create() is done with it
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    ended: tuple[int, bool] = (0, False)  # exit code, OOM-killed: set before `exited`
    boost: CpuBoost | None = None  # its start runs without the CPU quota until this ends
    # Its runner answered since it got its session (a pre-started kernel's `setup`): the start
    # needs no ping to know it is up.
    answered: bool = False


K = TypeVar("K", bound=RunnerKernel)


class RunnerKernels(ABC, Generic[K]):
    # How long an execution that lost its runner waits for the monitor to see the kernel end.
    _settle: float = 2.0

    def __init__(self, *, grace: float, start_timeout: float) -> None:
        self._grace = grace
        self._start_timeout = start_timeout
        self._kernels: dict[str, K] = {}
        self._starting: set[str] = set()
        self._exits: asyncio.Queue[m.KernelExit] = asyncio.Queue()

    # -- what a backend provides ---------------------------------------------------------------

    @abstractmethod
    def _check(self, spec: m.KernelSpec) -> None:
        """Refuse a spec this backend cannot start."""

    @abstractmethod
    async def _start(self, spec: m.KernelSpec) -> K:
        """Start the kernel (its runner may not answer yet)."""

    @abstractmethod
    async def _wait_end(self, kernel: K) -> tuple[int, bool]:
        """Wait until the kernel has ended: (exit code, OOM-killed)."""

    @abstractmethod
    async def _signal(self, kernel: K, which: Signal) -> None: ...

    @abstractmethod
    async def _cleanup(self, kernel: K) -> None:
        """Remove what is left of an ended kernel."""

    @abstractmethod
    async def _stop_unstarted(self, kernel: K) -> str:
        """Stop a kernel whose runner never came up; its last output, for the error."""

    def _alive(self, kernel: K) -> bool:
        return not kernel.exited.is_set()

    async def _answered(self, kernel: K) -> None:
        """The kernel's runner answers; its caller does not have it yet (a failure stops it)."""

    # -- the KernelBackend port ----------------------------------------------------------------

    async def create(self, spec: m.KernelSpec) -> m.KernelHandle:
        self._check(spec)
        if spec.kernel_id in self._kernels or spec.kernel_id in self._starting:
            raise m.KernelAlreadyExists(
                f"kernel {spec.kernel_id} exists", metadata=spec_metadata(spec)
            )
        self._starting.add(spec.kernel_id)
        try:
            kernel = await self._start(spec)
        finally:
            self._starting.discard(spec.kernel_id)
        await self._track(kernel)
        try:
            if not kernel.answered:
                await kernel.client.wait_ready(
                    within=self._start_timeout, alive=lambda: self._alive(kernel)
                )
            await self._answered(kernel)
        except BaseException as exc:  # cancellation too: never leave a kernel nobody knows of
            # A batch task that finished before answering a ping is fine: the monitor reports it.
            finished = kernel.batch and not self._alive(kernel)
            if not (finished and isinstance(exc, m.KernelUnavailable)):
                kernel.report = False
                output = await self._stop_unstarted(kernel)
                if not isinstance(exc, m.KernelUnavailable):
                    raise
                msg = f"kernel runner did not come up ({exc}, exit code {kernel.ended[0]})"
                msg += f": {output}"
                raise m.KernelStartFailed(msg, metadata=spec_metadata(spec)) from exc
        kernel.settled.set()
        return kernel.handle

    async def destroy(self, kernel_id: str, reason: str) -> None:
        kernel = self._kernels.get(kernel_id)
        if kernel is not None:
            await self._stop(kernel, reason)

    async def execute(
        self, kernel_id: str, mode: m.ExecMode, code: str, timeout: float
    ) -> m.ExecResult:
        kernel = self._running(kernel_id)
        if kernel.boost is not None:  # a first cell waits for the start it needs anyway
            await kernel.boost.ended()
        return await execute_on_runner(
            kernel.client,
            kernel.exited,
            lambda: kernel.ended,
            (mode, code, timeout),
            settle=self._settle,
        )

    def list(self) -> list[m.KernelHandle]:
        return [k.handle for k in self._live()]

    async def wait_exit(self) -> m.KernelExit:
        return await self._exits.get()

    # -- reaching a kernel's runner ------------------------------------------------------------

    def runner(self, kernel_id: str) -> RunnerClient:
        """The runner of a running kernel (terminals, apps, files, interrupts, restarts go
        through it), its boost ended."""
        kernel = self._running(kernel_id)
        if kernel.boost is not None:
            kernel.boost.end()
        return kernel.client

    async def open_live(self, kernel_id: str) -> RunnerSession:
        kernel = self._running(kernel_id)
        if kernel.boost is not None:
            await kernel.boost.ended()
        return await self.runner(kernel_id).open_session()

    async def restart(self, kernel_id: str) -> None:
        """Restart the kernel's runner in place: its Jupyter kernel, commands and apps end, a
        fresh runner starts in the same sandbox or container (same work dir, mounts, env)."""
        kernel = self._kernels.get(kernel_id)
        client = self.runner(kernel_id)
        await client.restart(
            within=60.0, alive=lambda: kernel is not None and not kernel.exited.is_set()
        )

    async def interrupt(self, kernel_id: str) -> None:
        await self.runner(kernel_id).interrupt()

    async def open_terminal(self, kernel_id: str, rows: int, cols: int) -> RunnerTerminal:
        return await self.runner(kernel_id).open_terminal(rows, cols)

    # -- the table -----------------------------------------------------------------------------

    def _running(self, kernel_id: str) -> K:
        kernel = self._kernels.get(kernel_id)
        if kernel is None or kernel.exited.is_set():
            raise not_running(kernel_id)
        return kernel

    def _live(self) -> builtins.list[K]:
        """The kernels a caller knows of that have not ended."""
        return [k for k in self._kernels.values() if k.report and not k.exited.is_set()]

    async def _stop_all(self, reason: str) -> None:
        kernels = [*self._kernels.values()]
        await asyncio.gather(*(self._stop(k, reason) for k in kernels))

    async def _track(self, kernel: K) -> None:
        self._kernels[kernel.spec.kernel_id] = kernel
        if kernel.monitor is None:  # a pre-started kernel is watched from its start
            self._watch(kernel)

    def _watch(self, kernel: K) -> None:
        kernel.monitor = asyncio.create_task(
            self._monitor(kernel), name=f"kernel-{kernel.spec.kernel_id}"
        )

    async def _monitor(self, kernel: K) -> None:
        kernel.ended = await self._wait_end(kernel)
        kernel.exited.set()
        if kernel.boost is not None:
            kernel.boost.close()
        await kernel.settled.wait()
        kernel.client.close()  # the runner's kept connections end with it
        try:
            await self._cleanup(kernel)
        except Exception:
            log.exception("cleaning up kernel %s failed", kernel.spec.kernel_id)
        self._kernels.pop(kernel.spec.kernel_id, None)
        if kernel.report:
            spec = kernel.spec
            exit_code, oom = kernel.ended
            default = m.REASON_TASK_FINISHED if kernel.batch else m.REASON_SELF_TERMINATED
            default = m.REASON_OOM_KILLED if oom else default
            self._exits.put_nowait(
                m.KernelExit(
                    kernel_id=spec.kernel_id,
                    session_id=spec.session_id,
                    exit_code=exit_code,
                    reason=kernel.stop_reason or default,
                )
            )

    async def _stop(self, kernel: K, reason: str) -> None:
        """SIGTERM the kernel, SIGKILL it after the grace period, wait for the cleanup."""
        if kernel.stop_reason is None:
            kernel.stop_reason = reason
        assert kernel.monitor is not None
        if not kernel.exited.is_set():
            await self._signal(kernel, "SIGTERM")
        try:
            await asyncio.wait_for(asyncio.shield(kernel.monitor), self._grace)
        except TimeoutError:
            await self._signal(kernel, "SIGKILL")
            await asyncio.shield(kernel.monitor)
