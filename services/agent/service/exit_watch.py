"""Report every ended kernel (destroyed, exited, task done) as TERMINATED; shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from services.agent.domain.model import REASON_AGENT_SHUTDOWN, KernelExit
from services.agent.service.kernels import AgentKernels
from services.agent.service.outbound import Phase

log = logging.getLogger(__name__)


class ExitWatcher:
    def __init__(
        self,
        kernels: AgentKernels,
        *,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
        on_exit: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._k = kernels
        self._on_exit = on_exit  # e.g. stop exposing the kernel's apps
        self._retry_initial = retry_initial
        self._retry_max = retry_max

    async def run(self) -> None:
        """Until cancelled. Reports in exit order; a failing stream delays, never drops, them."""
        while True:
            try:
                ended = await self._k.backend.wait_exit()
            except Exception:
                log.exception("waiting for kernel exits failed; retrying")
                await asyncio.sleep(self._retry_initial)
                continue
            await self.report(ended)

    async def report(self, ended: KernelExit) -> None:
        kid = ended.kernel_id
        if (creating := self._k.creating.get(kid)) is not None:
            # A kernel that ends during its creation (a quick batch task) is announced only
            # after its STARTED or CREATE_FAILED: the registry applies events in stream order.
            await asyncio.wait([creating])
        # Freed before the registry hears of the end: it may place a new kernel here at once.
        self._k.accelerators.release(kid)
        if self._on_exit is not None:
            try:
                await self._on_exit(kid)
            except Exception:
                log.exception("cleaning up after kernel %s failed", kid)
        reason = self._k.destroy_reasons.get(kid) or ended.reason
        trace = self._k.traces.get(kid, {})
        delay = self._retry_initial
        while True:
            try:
                await self._k.emit(
                    self._k.event(
                        Phase.TERMINATED,
                        kid,
                        ended.session_id,
                        reason=reason,
                        exit_code=ended.exit_code,
                        trace=trace,
                    )
                )
                break
            except Exception:
                log.exception("could not publish the end of kernel %s; retrying", kid)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
        self._k.destroy_reasons.pop(kid, None)
        self._k.traces.pop(kid, None)
        await self._k.mark_ended(kid)
        log.info("kernel %s ended: %s (exit code %d)", kid, reason, ended.exit_code)


async def shut_down_kernels(kernels: AgentKernels, *, wait_s: float) -> bool:
    """Refuse new kernels, destroy all, and wait (bounded) until their ends are published.

    The exit watcher must still run. False when some TERMINATED events did not go out in time.
    """
    kernels.closing = True
    if kernels.creating:
        await asyncio.wait(list(kernels.creating.values()), timeout=wait_s)
    ids = kernels.live_ids()
    for kid in ids:
        kernels.destroy_reasons.setdefault(kid, REASON_AGENT_SHUTDOWN)
    await kernels.backend.close()
    done = await kernels.wait_ended(ids, wait_s)
    if not done:
        log.warning("gave up waiting for the ends of kernels %s", ids)
    return done
