"""State the kernel use cases share: creations in flight, pending reasons, reported exits."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from libs.telemetry.tracing import current_trace_context
from services.agent.domain.model import KernelHandle
from services.agent.service.accelerators import Accelerators
from services.agent.service.outbound import EventPublisher, KernelEvent, Phase
from services.agent.service.ports import KernelBackend

log = logging.getLogger(__name__)

# How many ended kernel ids to remember (what shutdown waits for).
_REMEMBERED_ENDS = 10_000


class AgentKernels:
    """The backend plus the bookkeeping that makes creation and destruction idempotent."""

    def __init__(
        self,
        backend: KernelBackend,
        publisher: EventPublisher,
        agent_id: str,
        accelerators: Accelerators | None = None,
    ) -> None:
        self.backend = backend
        self.accelerators = accelerators or Accelerators()
        self.publisher = publisher
        self.agent_id = agent_id
        self.creating: dict[str, asyncio.Task[KernelHandle]] = {}
        # Per kernel: the trace its TERMINATED event continues (creation's, then destruction's).
        self.traces: dict[str, Mapping[str, str]] = {}
        # Reasons the agent asked for; they win over the backend's view of why a kernel ended.
        self.destroy_reasons: dict[str, str] = {}
        self.closing = False
        self.draining = False  # SIGTERM: no new creates, in-flight ones finish (rule R-DRAIN)
        # Kernels of batch sessions (they end by themselves): a draining agent lets them finish.
        self.batch: set[str] = set()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._ended_changed = asyncio.Condition()

    def find(self, kernel_id: str) -> KernelHandle | None:
        return next((h for h in self.backend.list() if h.kernel_id == kernel_id), None)

    def live_ids(self) -> list[str]:
        return sorted(h.kernel_id for h in self.backend.list())

    async def mark_ended(self, kernel_id: str) -> None:
        self.batch.discard(kernel_id)
        self._ended[kernel_id] = None
        self._ended.move_to_end(kernel_id)
        while len(self._ended) > _REMEMBERED_ENDS:
            self._ended.popitem(last=False)
        async with self._ended_changed:
            self._ended_changed.notify_all()

    async def wait_ended(self, kernel_ids: Iterable[str], wait_s: float) -> bool:
        """True once every id was reported ended; False when `wait_s` seconds pass first."""
        wanted = set(kernel_ids)
        try:
            async with asyncio.timeout(wait_s), self._ended_changed:
                await self._ended_changed.wait_for(lambda: wanted.issubset(self._ended))
        except TimeoutError:
            return False
        return True

    async def emit(self, event: KernelEvent) -> None:
        """Publish one of this agent's events (built by `event`)."""
        await self.publisher.publish(event)

    def event(
        self,
        phase: Phase,
        kernel_id: str,
        session_id: str,
        *,
        reason: str = "",
        exit_code: int = 0,
        message: str = "",
        trace: Mapping[str, str] | None = None,
    ) -> KernelEvent:
        """This agent's event on a kernel (in the current trace unless `trace` names one)."""
        return KernelEvent(
            kernel_id=kernel_id,
            session_id=session_id,
            agent_id=self.agent_id,
            phase=phase,
            reason=reason,
            exit_code=exit_code,
            message=message,
            trace_context=current_trace_context() if trace is None else trace,
        )
