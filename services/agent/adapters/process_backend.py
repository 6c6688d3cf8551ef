"""The process backend: each kernel is the kernel runner in its own bubblewrap sandbox.

The agent starts a tiny `sh` wrapper that first joins the kernel's cgroups (memory, CPU, pids; so
user code never runs outside them), then execs `setpriv` + `bwrap` (see `sandbox.py`): kernel code
runs as an unprivileged uid in its own namespaces and sees only what is bound into it. Its runner
serves on a listening socket the agent made (root's, 0600) and passed in as an open fd, so no other
kernel can reach it and this one needs no writable host directory. Its stdout/stderr reach
`runner.log` through the agent, size-bounded (`kernel_log.py`). Cgroups: `cgroups.py`.
Pre-started kernels: `pooled_backend.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket as _socket
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from typing_extensions import override

from libs.core.errors import FailedPrecondition
from services.agent.adapters.backend_health import process_problem
from services.agent.adapters.cgroups import (
    CgroupLayout,
    discard_cgroups,
    make_kernel_cgroups,
    oom_killed,
    probe_cgroups,
    remove_cgroups,
    remove_parents,
    set_cpu_weight,
    signal_members,
)
from services.agent.adapters.cpu_boost import BOOST_LIMIT, CpuBoost
from services.agent.adapters.kernel_dirs import (
    prepare_dirs,
    remove_socket,
    remove_tree,
    staging_dir,
)
from services.agent.adapters.kernel_log import copy_log, tail
from services.agent.adapters.kernel_spec_checks import check_spec, spec_metadata
from services.agent.adapters.kernel_stats import process_usage
from services.agent.adapters.process_kernel import ProcessKernel, boostable, limit_cpu, poolable
from services.agent.adapters.runner_client import KEPT_CONNECTIONS, RunnerClient
from services.agent.adapters.runner_kernels import RunnerKernels, Signal
from services.agent.adapters.sandbox import WORKDIR, SandboxSettings, Tools
from services.agent.adapters.sandbox_launch import launch_sandboxed
from services.agent.domain import model as m
from services.agent.domain.images import builtin_python_image
from services.agent.domain.names import is_safe_kernel_id

log = logging.getLogger(__name__)

DEFAULT_PYTHON = "/usr/bin/python3"  # in the read-only /usr every kernel sees
_MAX_UNIX_PATH = 107


class ProcessBackend(RunnerKernels[ProcessKernel]):
    name = "process"

    async def images(self) -> Sequence[str]:
        """One built-in image: this agent's own Python (see domain/images.py)."""
        return (builtin_python_image(),)

    def __init__(
        self,
        base_dir: Path,
        python: str = DEFAULT_PYTHON,
        sandbox: SandboxSettings | None = None,
        use_cgroups: bool | None = None,
        *,
        pids_max: int = 512,
        log_bytes: int = 4 << 20,
        grace: float = 5.0,
        start_timeout: float = 30.0,
        socket_dir: Path | None = None,
        cgroup_owner: str = "",
        jupyter: bool = False,
        boost_limit: float = BOOST_LIMIT,
    ) -> None:
        super().__init__(grace=grace, start_timeout=start_timeout)
        self._base = base_dir.resolve()
        # Whose `shipyard/<owner>` cgroup parent this is (the agent id; default: the base dir's
        # name, which is per agent too).
        self._cgroup_owner = cgroup_owner or self._base.name
        # Runner sockets live apart from base_dir: unix socket paths are capped at 108 bytes.
        self._socket_dir = socket_dir
        self._own_socket_dir = socket_dir is None
        self._python = python  # a python3 inside the sandbox (the runner is stdlib only)
        self._jupyter = jupyter  # query mode on the Jupyter kernel of that python, if it has one
        self._boost_limit = boost_limit  # seconds a poolable kernel's start may run unthrottled
        self._sandbox = sandbox or SandboxSettings()
        self._tools: Tools | None = None
        self._pids_max = pids_max
        self._log_bytes = log_bytes
        self._use_cgroups = use_cgroups
        self._layout: CgroupLayout | None = None

    async def kernel_stats(self) -> Sequence[m.KernelUsage]:
        return [process_usage(k.spec.kernel_id, k.cgroups, k.proc.pid) for k in self._live()]

    async def close(self) -> None:
        await self._stop_all(m.REASON_AGENT_SHUTDOWN)
        if self._layout is not None:
            remove_parents(self._layout)  # our own `shipyard/<owner>` only (rule R-OWN-STATE)
        if self._own_socket_dir and self._socket_dir:
            with contextlib.suppress(OSError):
                self._socket_dir.rmdir()

    async def probe(self) -> str | None:
        """Why this backend could not start a kernel now (None: it could)."""
        try:
            layout = self._cgroup_layout()
        except m.KernelStartFailed as exc:
            return exc.message
        return await process_problem(layout)

    async def reap_leftovers(self) -> Sequence[str]:
        """End kernels a previous run of this agent left behind (they cannot be adopted).

        Only this agent's kernel directory is looked at, so agents sharing a machine never
        touch each other's kernels. Returns the ids it cleaned up.
        """
        if not self._base.is_dir():
            return []
        layout = self._cgroup_layout()
        reaped = [
            d.name
            for d in sorted(self._base.iterdir())
            if d.is_dir() and is_safe_kernel_id(d.name) and d.name not in self._kernels
        ]
        for kernel_id in reaped:
            groups = [parent / kernel_id for parent in (layout.parents if layout else ())]
            await _kill_cgroups([g for g in groups if g.is_dir()])
            await asyncio.to_thread(remove_tree, self._base / kernel_id)
        if reaped:
            log.warning("ended %d kernels left by a previous run: %s", len(reaped), reaped)
        return reaped

    # -- internals --------------------------------------------------------------------------

    @override
    async def _start(self, spec: m.KernelSpec) -> ProcessKernel:
        return await self._launch(spec)

    async def _launch(self, spec: m.KernelSpec, *, pooled: bool = False) -> ProcessKernel:
        kernel_dir = self._base / spec.kernel_id
        sock_path = self._socket(spec.kernel_id)
        cgroups: list[Path] = []
        listener: _socket.socket | None = None
        try:
            self._tools = self._tools or Tools.find()
            listener = await asyncio.to_thread(
                prepare_dirs, kernel_dir, sock_path, spec.mounts, self._sandbox, spec.devices
            )
            # A sandbox a pre-started kernel could stand for starts as one does: its runner
            # (and Jupyter) start without the CPU quota, which `_answered` sets (see poolable);
            # not a Jupyter kernel whose start could run the session's code (see boostable).
            fast = boostable(spec) if self._jupyter else poolable(spec)
            cpu = Decimal(0) if pooled or fast else spec.cpu
            cgroups = make_kernel_cgroups(
                self._cgroup_layout(), spec.kernel_id, cpu, spec.mem_bytes, self._pids_max
            )
            if pooled:
                set_cpu_weight(cgroups, low=True)  # below the kernels of sessions
            proc = await launch_sandboxed(
                self._tools,
                self._sandbox,
                spec,
                python=self._python,
                jupyter=self._jupyter,
                listener=listener,
                staging=staging_dir(sock_path),
                cgroups=cgroups,
                pooled=pooled,
            )
        except (OSError, m.KernelStartFailed) as exc:
            discard_cgroups(cgroups)
            await asyncio.to_thread(remove_tree, kernel_dir)
            await asyncio.to_thread(remove_socket, sock_path)
            msg = f"cannot start kernel {spec.kernel_id}: {exc}"
            raise m.KernelStartFailed(msg, metadata=spec_metadata(spec)) from exc
        finally:
            if listener is not None:
                listener.close()  # the runner holds it now; it closes when the kernel ends
        assert proc.stdout is not None
        copying = asyncio.create_task(
            copy_log(proc.stdout, kernel_dir / "runner.log", self._log_bytes)
        )
        handle = m.KernelHandle(
            kernel_id=spec.kernel_id, session_id=spec.session_id, pid=proc.pid, workdir=WORKDIR
        )
        return ProcessKernel(
            spec=spec,
            handle=handle,
            client=RunnerClient(sock_path, keep=KEPT_CONNECTIONS),
            batch=bool(spec.startup_command),
            proc=proc,
            cgroups=cgroups,
            kernel_dir=kernel_dir,
            socket=sock_path,
            log_copy=copying,
        )

    @override
    async def _answered(self, kernel: ProcessKernel) -> None:
        if self._layout is None or not poolable(kernel.spec):
            return  # no quota, or one from the first instant
        quota = functools.partial(limit_cpu, kernel, self._layout.version)
        if not self._jupyter or not boostable(kernel.spec):
            quota()  # nothing more to start (or set since the start, and again is harmless)
            return
        # Its Jupyter kernel's start runs unthrottled but at the lowest CPU weight: on spare CPU,
        # never ahead of the control plane or other sessions' kernels (docs/kernel-isolation.md).
        with contextlib.suppress(OSError):  # its groups are gone: so is the kernel
            set_cpu_weight(kernel.cgroups, low=True)
        started = kernel.client.wait_started
        kernel.boost = CpuBoost(kernel.spec.kernel_id, quota, started, limit=self._boost_limit)

    @override
    def _check(self, spec: m.KernelSpec) -> None:
        check_spec(spec)
        if len(str(self._socket(spec.kernel_id))) > _MAX_UNIX_PATH:
            msg = f"socket dir {self._socket_dir} is too long for a unix socket path"
            raise FailedPrecondition(msg, metadata=spec_metadata(spec))

    def _socket(self, kernel_id: str) -> Path:
        if self._socket_dir is None:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="shipyard-"))
            # Kernels (another uid) must reach their staging dirs, but list nothing here.
            self._socket_dir.chmod(0o711)
        return self._socket_dir / f"{kernel_id}.sock"

    def _cgroup_layout(self) -> CgroupLayout | None:
        if self._use_cgroups is False:
            return None
        if self._layout is None:
            self._layout = probe_cgroups(self._cgroup_owner)
            if self._layout is None:
                if self._use_cgroups:
                    raise m.KernelStartFailed("cgroups were required but none are writable")
                self._use_cgroups = False
                log.warning("no writable cgroups: memory limited by RLIMIT_AS, CPU unlimited")
        return self._layout

    @override
    def _alive(self, kernel: ProcessKernel) -> bool:
        return kernel.proc.returncode is None

    @override
    async def _wait_end(self, kernel: ProcessKernel) -> tuple[int, bool]:
        returncode = await kernel.proc.wait()
        with contextlib.suppress(Exception):  # its output is drained; a failed copy loses only log
            await asyncio.wait_for(asyncio.shield(kernel.log_copy), 5)
        return _exit_code(returncode), oom_killed(kernel.cgroups)  # before the cgroups go away

    @override
    async def _signal(self, kernel: ProcessKernel, which: Signal) -> None:
        _signal_all(kernel, signal.Signals[which])

    @override
    async def _stop_unstarted(self, kernel: ProcessKernel) -> str:
        kernel.settled.set()
        await self._stop(kernel, m.REASON_START_FAILED)
        return tail(kernel.kernel_dir / "runner.log")

    @override
    async def _cleanup(self, kernel: ProcessKernel) -> None:
        # The runner is gone; stragglers (a group member, a setsid'd child in a cgroup) are not.
        _signal_all(kernel, signal.SIGKILL)
        await remove_cgroups(kernel.cgroups, kill=lambda: _signal_all(kernel, signal.SIGKILL))
        await asyncio.to_thread(remove_tree, kernel.kernel_dir)
        await asyncio.to_thread(remove_socket, kernel.socket)


async def _kill_cgroups(groups: list[Path]) -> None:
    def kill() -> None:
        signal_members(groups, signal.SIGKILL)

    kill()
    await remove_cgroups(groups, kill=kill)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _signal_all(kernel: ProcessKernel, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(kernel.proc.pid, signum)
    signal_members(kernel.cgroups, signum)
