"""Register with the registry, clean up what it does not expect, then heartbeat.

A registry that is down, refuses us or forgets us never stops the agent: we retry with backoff
and keep every kernel running meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from services.agent.domain.model import KernelUsage
from services.agent.service.outbound import AgentHealth, AgentInfo, AgentRegistry, Registration

log = logging.getLogger(__name__)

# Destroys one kernel (DestroyKernel's signature: kernel id, session id, reason).
Destroyer = Callable[[str, str, str], Awaitable[None]]
# The images present on the node now (the backend's `images`).
Inventory = Callable[[], Awaitable[Sequence[str]]]
# A slow engine delays the heartbeat by at most this much (the stats are then left out).
MEASURE_TIMEOUT = 3.0
# What the live kernels used so far (the backend's `kernel_stats`).
Usage = Callable[[], Awaitable[Sequence[KernelUsage]]]


async def _no_images() -> Sequence[str]:
    return ()


async def _no_stats() -> Sequence[KernelUsage]:
    return ()


class RegistrationLoop:
    def __init__(
        self,
        registry: AgentRegistry,
        info: AgentInfo,
        *,
        live_ids: Callable[[], list[str]],
        destroy: Destroyer,
        cleanup_reason: str,
        images: Inventory = _no_images,
        health: Callable[[], AgentHealth] = AgentHealth,
        stats: Usage = _no_stats,
        default_interval: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._registry = registry
        self._info = info
        self._live_ids = live_ids
        self._destroy = destroy
        self._cleanup_reason = cleanup_reason
        self._images = images
        self._health = health
        self._stats = stats
        self._default_interval = default_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self.registrations = 0  # how often we registered: for operators and tests

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            registration = await self._register()
            await self._clean_up(registration.kernels_to_destroy)
            interval = registration.heartbeat_interval or self._default_interval
            await self._heartbeat_until_lost(interval)

    async def _measure(self) -> Sequence[KernelUsage]:
        """Kernel stats ride along with the heartbeat; failing to measure never stops it."""
        try:
            async with asyncio.timeout(MEASURE_TIMEOUT):
                return await self._stats()
        except Exception:
            log.exception("could not measure the kernels' usage")
            return ()

    async def _register(self) -> Registration:
        delay = self._backoff_initial
        while True:
            try:
                registration = await self._registry.register(
                    self._info, self._live_ids(), await self._images()
                )
            except Exception as exc:
                log.warning("cannot register with the registry (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            self.registrations += 1
            log.info("registered as %s at %s", self._info.agent_id, self._info.address)
            return registration

    async def _clean_up(self, kernel_ids: tuple[str, ...]) -> None:
        for kid in kernel_ids:
            try:
                await self._destroy(kid, "", self._cleanup_reason)
            except Exception:
                log.exception("could not destroy kernel %s the registry does not expect", kid)

    async def _heartbeat_until_lost(self, interval: float) -> None:
        """Return when the registry asks us to register again or cannot be reached."""
        while True:
            await asyncio.sleep(interval)
            try:
                reregister = await self._registry.heartbeat(
                    self._info,
                    self._live_ids(),
                    await self._images(),
                    self._health(),
                    stats=await self._measure(),
                )
            except Exception as exc:
                # It may have marked us lost meanwhile; registering again also reconciles kernels.
                log.warning("heartbeat failed (%s); registering again", exc)
                return
            if reregister:
                log.info("the registry asked %s to register again", self._info.agent_id)
                return
