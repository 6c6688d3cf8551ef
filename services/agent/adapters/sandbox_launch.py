"""Launching one process-backend kernel: the cgroup-joining wrapper, then the sandbox around the
kernel runner (`sandbox.py`). The runner's code reaches the sandbox through pipes, so the
checkout stays unseen, and its listening socket as an open fd.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from services.agent.adapters.cgroups import join_command
from services.agent.adapters.device_mask import staged_name
from services.agent.adapters.sandbox import (
    SYSTEM_PATH,
    WORKDIR,
    SandboxSettings,
    Tools,
    network_command,
    sandbox_command,
    staging_command,
)
from services.agent.domain import model as m
from services.agent.domain.names import staged_mount
from services.agent.kernel_runner import RUNNER_MODULES, RUNNER_SCRIPT


async def launch_sandboxed(
    tools: Tools,
    sandbox: SandboxSettings,
    spec: m.KernelSpec,
    *,
    python: str,
    jupyter: bool,
    listener: socket.socket,
    staging: Path,
    cgroups: list[Path],
    pooled: bool = False,
) -> asyncio.subprocess.Process:
    """Start the kernel's process (its own process group); its output is on its stdout.
    `pooled`: a pre-started kernel, with no session's environment or ids yet."""
    script_r, script_w = os.pipe()
    modules: list[tuple[str, int]] = []
    try:
        os.write(script_w, RUNNER_SCRIPT.read_bytes())
        os.close(script_w)
        script_w = -1
        modules = [(path.name, _pipe_of(path.read_bytes())) for path in RUNNER_MODULES]
        inner = sandbox_command(
            tools,
            sandbox,
            spec,
            python=python,
            staging=staging,
            environ=BASE_ENVIRON | {"HOME": WORKDIR} if pooled else kernel_environ(spec),
            runner_fd=script_r,
            socket_fd=listener.fileno(),
            module_fds=modules,
            jupyter=jupyter,
            await_setup=pooled,
        )
        binds = [(v.host_path, staging / staged_mount(i)) for i, v in enumerate(spec.mounts)]
        nodes = dict.fromkeys(spec.devices)
        binds += [(d, staging / staged_name(i)) for i, d in enumerate(nodes)]
        return await asyncio.create_subprocess_exec(
            *join_command(cgroups, spec.mem_bytes, sh=tools.sh),
            *staging_command(tools, binds),
            *network_command(tools, spec),
            *inner,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd="/",
            env=BASE_ENVIRON,  # the wrapper's, not the kernel's
            pass_fds=(script_r, listener.fileno(), *(fd for _, fd in modules)),
            start_new_session=True,  # its own process group: one killpg stops it all
        )
    finally:
        os.close(script_r)
        for _, fd in modules:
            os.close(fd)
        if script_w >= 0:
            os.close(script_w)


BASE_ENVIRON = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}


def kernel_environ(spec: m.KernelSpec) -> dict[str, str]:
    """The kernel's whole environment. A fresh one: the agent's own variables (tokens, URLs)
    must not leak into kernels."""
    env = BASE_ENVIRON | {"SHIPYARD_KERNEL_ID": spec.kernel_id}
    env |= {"SHIPYARD_SESSION_ID": spec.session_id}
    return env | dict(spec.environ) | {"HOME": WORKDIR}


def _pipe_of(data: bytes) -> int:
    """A pipe's read end holding `data` (a runner module: well under the pipe's buffer)."""
    read, write = os.pipe()
    try:
        os.write(write, data)
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    return read
