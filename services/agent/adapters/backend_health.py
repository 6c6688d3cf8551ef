"""Self-checks of the kernel backends, for the agent's health probe.

Each answers "why could a kernel not start here now?" (None: it could). The process backend
needs its own cgroup parents (recreated when they vanished, rule R-OWN-STATE) and a runnable
bubblewrap; the container backend needs its engine to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil

from services.agent.adapters.cgroups import CgroupLayout, ensure_parents, parents_problem
from services.agent.adapters.sandbox import SYSTEM_PATH

_CHECK_TIMEOUT = 5.0


async def process_problem(layout: CgroupLayout | None) -> str | None:
    if layout is not None:
        if parents_problem(layout) is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(ensure_parents, layout)
        problem = parents_problem(layout)
        if problem is not None:
            return problem
    return await _runs("bwrap", "--version")


async def _runs(program: str, *args: str) -> str | None:
    path = shutil.which(program, path=SYSTEM_PATH)
    if path is None:
        return f"{program} is not installed"
    try:
        proc = await asyncio.create_subprocess_exec(
            path,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        return f"{program} cannot run: {exc}"
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            code = await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"{program} did not answer within {_CHECK_TIMEOUT:.0f}s"
    return None if code == 0 else f"{program} exited with {code}"
