"""The process entry point every service shares: telemetry, serve, stop on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from libs.core.config import ServiceSettings
from libs.telemetry.logging import setup_logging
from libs.telemetry.tracing import setup_tracing

log = logging.getLogger(__name__)


class Running(Protocol):
    async def stop(self) -> None: ...


S = TypeVar("S", bound=ServiceSettings)


async def run_service(name: str, settings: S, serve: Callable[[S], Awaitable[Running]]) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly within `settings.stop_deadline`."""
    setup_logging(name, settings.log_level)
    setup_tracing(
        name, otlp_endpoint=settings.otlp_endpoint, sample_ratio=settings.trace_sample_ratio
    )
    running = await serve(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("%s stopping", name)
    try:
        async with asyncio.timeout(settings.stop_deadline):
            await running.stop()
    except TimeoutError:
        # A task that ignores cancellation (a client library stuck mid-handshake) would keep
        # the process alive forever, and asyncio's own shutdown waits for it too: leave now.
        log.error("%s did not stop within %.0f s; exiting", name, settings.stop_deadline)
        logging.shutdown()
        os._exit(1)
