"""Running code on a kernel's runner, shared by the kernel backends.

Code may end its own kernel (os._exit, an OOM kill) before the runner answers; the caller then
gets that end as the code's result instead of a transport error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain import model as m


def not_running(kernel_id: str) -> m.KernelNotFound:
    return m.KernelNotFound(f"kernel {kernel_id} is not running", metadata={"kernel_id": kernel_id})


async def execute_on_runner(
    client: RunnerClient,
    exited: asyncio.Event,
    ended: Callable[[], tuple[int, bool]],
    request: tuple[m.ExecMode, str, float],
    *,
    settle: float,
) -> m.ExecResult:
    """Execute `request` (mode, code, timeout); `ended()` gives (exit code, OOM-killed) once
    `exited` is set, which the backend's monitor does within `settle` seconds of the end."""
    mode, code, timeout = request
    try:
        return await client.execute(mode, code, timeout)
    except m.KernelUnavailable:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(exited.wait(), settle)
        if not exited.is_set():
            raise
        exit_code, oom = ended()
        why = "ran out of memory" if oom else f"exited with code {exit_code}"
        return m.ExecResult(
            status=m.ExecStatus.FAILED,
            exit_code=exit_code,
            error_name="OutOfMemory" if oom else "KernelExited",
            error_message=f"the kernel {why} while running the code",
        )
