"""DestroyKernel: stop a kernel; a TERMINATED event always follows, even for unknown kernels."""

from __future__ import annotations

import asyncio
import logging

from libs.telemetry.tracing import current_trace_context
from services.agent.domain.model import REASON_USER_REQUESTED
from services.agent.service.kernels import AgentKernels
from services.agent.service.outbound import REASON_ALREADY_TERMINATED, Phase

log = logging.getLogger(__name__)


class DestroyKernel:
    def __init__(self, kernels: AgentKernels) -> None:
        self._k = kernels
        self._deferred: set[asyncio.Task[None]] = set()

    async def __call__(self, kernel_id: str, session_id: str = "", reason: str = "") -> None:
        reason = reason or REASON_USER_REQUESTED
        if (creating := self._k.creating.get(kernel_id)) is not None:
            # Let the creation settle, so we stop the kernel it starts instead of racing it.
            try:
                await asyncio.wait([creating])
            except asyncio.CancelledError:
                # The caller gave up (its deadline) during a long creation, e.g. an image pull:
                # the kernel it starts must still be stopped.
                creating.add_done_callback(lambda _: self._later(kernel_id, session_id, reason))
                raise
        handle = self._k.find(kernel_id)
        if handle is None:
            await self._unknown(kernel_id, session_id)
            return
        # The exit watcher publishes TERMINATED with this reason, in this request's trace.
        self._k.destroy_reasons.setdefault(kernel_id, reason)
        self._k.traces[kernel_id] = current_trace_context()
        log.info("destroying kernel %s (%s)", kernel_id, reason)
        await self._k.backend.destroy(kernel_id, reason)

    def _later(self, kernel_id: str, session_id: str, reason: str) -> None:
        task = asyncio.create_task(self(kernel_id, session_id, reason), name=f"destroy-{kernel_id}")
        self._deferred.add(task)
        task.add_done_callback(self._deferred.discard)

    async def _unknown(self, kernel_id: str, session_id: str) -> None:
        if kernel_id in self._k.destroy_reasons:
            return  # being stopped: the exit watcher announces it
        # Gone, never here, or its end was dropped by the registry (e.g. it arrived before
        # STARTED): announce it again, since the registry waits for it. Duplicates are no-ops.
        await self._k.emit(
            self._k.event(Phase.TERMINATED, kernel_id, session_id, reason=REASON_ALREADY_TERMINATED)
        )
