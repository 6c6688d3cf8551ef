"""CreateKernels: start a request's kernels, all or none, announcing each step.

At most `max_starts` kernels start at once; the others wait their turn in arrival order (rule
R-BOUNDED-STARTS in docs/reliability.md), so a burst of placements cannot make every runner miss
its start deadline, which the backend counts from when the start begins, not from the request.
A draining agent refuses new kernels with UNAVAILABLE `agent-draining` (rule R-DRAIN).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Sequence

from libs.core.errors import Internal, ShipyardError, Unavailable
from libs.telemetry.tracing import current_trace_context
from services.agent.domain.model import KernelHandle, KernelSpec
from services.agent.service.kernels import AgentKernels
from services.agent.service.outbound import REASON_FAILED_TO_START, KernelEvent, Phase
from services.agent.service.ports import PrestartedKernels

log = logging.getLogger(__name__)

KERNEL_CREATE_FAILED = "KERNEL_CREATE_FAILED"
AGENT_SHUTTING_DOWN = "AGENT_SHUTTING_DOWN"
AGENT_DRAINING = "agent-draining"


class CreateKernels:
    def __init__(self, kernels: AgentKernels, *, max_starts: int = 0) -> None:
        self._k = kernels
        self.max_starts = max_starts if max_starts > 0 else (os.cpu_count() or 1)
        # asyncio.Semaphore wakes its waiters first come, first served: the FIFO of starts.
        self._gate = asyncio.Semaphore(self.max_starts)
        self.starting = 0  # kernels past the gate now
        self.queued = 0  # kernels waiting at the gate

    async def __call__(self, specs: Sequence[KernelSpec]) -> list[KernelHandle]:
        """The running kernels, in request order; on any failure none of them is left running."""
        if self._k.closing:
            raise Unavailable("the agent is shutting down", reason=AGENT_SHUTTING_DOWN)
        if self._k.draining and not all(self._known(s.kernel_id) for s in specs):
            raise Unavailable(
                "the agent is draining: it takes no new kernels", reason=AGENT_DRAINING
            )
        results = await asyncio.gather(
            *(self._create_one(s) for s in specs), return_exceptions=True
        )
        started = [r for r in results if isinstance(r, KernelHandle)]
        failures = [
            (s, r) for s, r in zip(specs, results, strict=True) if isinstance(r, BaseException)
        ]
        if not failures:
            return started
        # The registry fails the whole session, so siblings must not keep holding resources.
        for handle in started:
            await self._undo(handle.kernel_id)
        raise _creation_error(failures)

    async def _create_one(self, spec: KernelSpec) -> KernelHandle:
        if (running := self._k.find(spec.kernel_id)) is not None:
            return running  # a retried request: the kernel is already there
        task = self._k.creating.get(spec.kernel_id)
        if task is None:
            if spec.startup_command:
                self._k.batch.add(spec.kernel_id)
            task = asyncio.create_task(self._start(spec), name=f"create-kernel-{spec.kernel_id}")
            self._k.creating[spec.kernel_id] = task
            task.add_done_callback(lambda t: self._forget(spec.kernel_id, t))
        # Shielded: a caller giving up must not leave a half-started kernel behind.
        return await asyncio.shield(task)

    def _known(self, kernel_id: str) -> bool:
        return kernel_id in self._k.creating or self._k.find(kernel_id) is not None

    def _forget(self, kernel_id: str, task: asyncio.Task[KernelHandle]) -> None:
        if self._k.creating.get(kernel_id) is task:
            del self._k.creating[kernel_id]
        if not task.cancelled():
            task.exception()  # retrieved here so an abandoned failure is not logged as lost

    async def _start(self, spec: KernelSpec) -> KernelHandle:
        kid, sid = spec.kernel_id, spec.session_id
        trace = current_trace_context()
        # CREATING goes out before a start that may take long (a fresh sandbox, an image pull),
        # so that it shows; a hand-out takes milliseconds, and its CREATING goes out with its
        # outcome, in one MULTI, for the registry to apply both in one transaction.
        creating = self._k.event(Phase.CREATING, kid, sid, trace=trace)
        held = self._hands_out(spec)
        if not held:
            await self._k.emit(creating)
        try:
            handle = await self._start_in_turn(spec)
        except BaseException as exc:
            # A kernel that never started is never reported ended: free its devices here.
            self._k.accelerators.release(kid)
            if not isinstance(exc, Exception):
                raise
            await self._announce_failure(spec, exc, trace, [creating] if held else [])
            raise
        self._k.traces[kid] = trace
        started = self._k.event(Phase.STARTED, kid, sid, trace=trace)
        try:
            if held:
                await self._k.publisher.publish_together([creating, started])
            else:
                await self._k.emit(started)
        except Exception:
            # Without STARTED the registry would wait for this kernel forever: undo it.
            await self._undo(kid)
            raise
        log.info("kernel %s of session %s started (pid %d)", kid, sid, handle.pid)
        return handle

    def _hands_out(self, spec: KernelSpec) -> bool:
        """Whether this start takes a pre-started kernel: nothing awaits between here and the
        take, as long as the gate lets it through at once."""
        backend = self._k.backend
        return (
            not self._gate.locked()
            and isinstance(backend, PrestartedKernels)
            and backend.hands_out(spec)
        )

    async def _start_in_turn(self, spec: KernelSpec) -> KernelHandle:
        self.queued += 1
        try:
            await self._gate.acquire()
        finally:
            self.queued -= 1
        self.starting += 1
        try:
            return await self._k.backend.create(self._with_devices(spec))
        finally:
            self.starting -= 1
            self._gate.release()

    def _with_devices(self, spec: KernelSpec) -> KernelSpec:
        grant = self._k.accelerators.allocate(spec.kernel_id, spec.accelerator_slots)
        if not grant.devices and not grant.environ:
            return spec
        # The grant's variables win: a session's environ must not point at others' devices.
        return dataclasses.replace(
            spec, devices=grant.devices, environ={**spec.environ, **grant.environ}
        )

    async def _undo(self, kernel_id: str) -> None:
        self._k.destroy_reasons.setdefault(kernel_id, REASON_FAILED_TO_START)
        try:
            await self._k.backend.destroy(kernel_id, REASON_FAILED_TO_START)
        except Exception:
            log.exception("could not destroy kernel %s after a failed creation", kernel_id)

    async def _announce_failure(
        self,
        spec: KernelSpec,
        exc: Exception,
        trace: dict[str, str],
        before: list[KernelEvent],
    ) -> None:
        """CREATE_FAILED, after the CREATING that was held back for it (`before`)."""
        log.warning("kernel %s failed to start: %s", spec.kernel_id, describe(exc))
        failed = self._k.event(
            Phase.CREATE_FAILED,
            spec.kernel_id,
            spec.session_id,
            reason=REASON_FAILED_TO_START,
            message=describe(exc),
            trace=trace,
        )
        try:
            if before:
                await self._k.publisher.publish_together([*before, failed])
            else:
                await self._k.emit(failed)
        except Exception:
            log.exception("could not announce the failed start of kernel %s", spec.kernel_id)


def describe(exc: BaseException) -> str:
    if isinstance(exc, ShipyardError):
        return exc.message
    if isinstance(exc, asyncio.CancelledError):
        return "creation was cancelled"
    return f"{type(exc).__name__}: {exc}"


def _creation_error(failures: list[tuple[KernelSpec, BaseException]]) -> ShipyardError:
    ids = ",".join(spec.kernel_id for spec, _ in failures)
    first = failures[0][1]
    cause = first.reason if isinstance(first, ShipyardError) else type(first).__name__
    transient = all(isinstance(e, ShipyardError) and e.code == "UNAVAILABLE" for _, e in failures)
    error_class = Unavailable if transient else Internal
    return error_class(
        f"could not create kernel(s) {ids}: {describe(first)}",
        reason=KERNEL_CREATE_FAILED,
        metadata={"kernel_ids": ids, "cause": cause},
    )
