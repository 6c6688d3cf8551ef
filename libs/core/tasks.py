"""Background tasks of a service process: started with crash logging, stopped and awaited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)


def spawn(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """Start a background task whose unexpected end is logged, not silently dropped."""
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(_log_crash)
    return task


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], grace: float = 5.0) -> None:
    """Cancel the tasks and wait until every one has ended, or `grace` seconds have passed.

    A stop must never hang: a task stuck in a library's cancellation clean-up (seen with a
    blocking Redis read) is logged by name and left behind, so the caller goes on to close the
    clients that task was using, which ends it."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    ended, stuck = await asyncio.wait(pending, timeout=grace)
    for task in ended:
        if not task.cancelled():
            task.exception()  # retrieved: asyncio would otherwise report it as never retrieved
    for task in stuck:
        log.warning("background task %s did not stop within %.1f s", task.get_name(), grace)


def stop_if_cancelled() -> None:
    """Raise `CancelledError` if the current task was cancelled and the request got lost.

    Python 3.11's `asyncio.wait_for` returns the awaited call's result instead of raising when
    the cancellation lands just after that call finished, and redis-py sends every command
    through `wait_for` once a socket timeout is set (5 s by default in redis 8). A loop that
    only ends by cancellation can then run on for ever; `Task.cancelling()` still counts the
    request, so long-lived loops call this once per round (rule R-LOST-CANCEL in
    docs/reliability.md).
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=exc)


async def keep_running(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Keep a background loop alive: log and restart it after an unexpected failure."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s loop failed; restarting", name)
            await asyncio.sleep(1.0)
