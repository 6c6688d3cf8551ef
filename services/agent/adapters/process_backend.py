"""The process backend: kernels as process trees, for machines without a container engine.

Each kernel is the kernel runner started through a tiny `sh` wrapper that first joins the kernel's
cgroups (so user code never runs outside them), then `unshare` (own PID, mount, IPC and UTS
namespaces) when permitted. Fallbacks: no namespaces -> a plain process group; no usable cgroups
-> `ulimit -v` (RLIMIT_AS) for memory and no CPU limit. The cgroups themselves: `cgroups.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from libs.core.errors import FailedPrecondition, InvalidArgument
from services.agent.adapters.cgroups import (
    CgroupLayout,
    discard_cgroups,
    join_command,
    make_kernel_cgroups,
    oom_killed,
    probe_cgroups,
    remove_cgroups,
    signal_members,
)
from services.agent.adapters.device_mask import hidden_nodes, mask_prefix
from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain import model as m
from services.agent.kernel_runner import RUNNER_SCRIPT

log = logging.getLogger(__name__)

UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc", "--ipc", "--uts", "--kill-child")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_UNIX_PATH = 107


@dataclass(eq=False)
class _Kernel:
    spec: m.KernelSpec
    handle: m.KernelHandle
    proc: asyncio.subprocess.Process
    cgroups: list[Path]
    kernel_dir: Path
    socket: Path
    client: RunnerClient
    monitor: asyncio.Task[None] = field(init=False)
    stop_reason: str | None = None
    report: bool = True  # False when create() failed: nobody has a handle to hear about
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # create() is done with it
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    oom_killed: bool = False


class ProcessBackend:
    name = "process"

    def __init__(
        self,
        base_dir: Path,
        python: str = sys.executable,
        use_namespaces: bool | None = None,
        use_cgroups: bool | None = None,
        *,
        grace: float = 5.0,
        start_timeout: float = 30.0,
        socket_dir: Path | None = None,
        managed_devices: Sequence[str] = (),
    ) -> None:
        self._base = base_dir.resolve()
        # Accelerator device nodes: a kernel sees those of its spec.devices and none other.
        self._managed_devices = tuple(managed_devices)
        # Runner sockets live apart from base_dir: unix socket paths are capped at 108 bytes.
        self._socket_dir = socket_dir
        self._own_socket_dir = socket_dir is None
        self._python = python
        self._use_ns = use_namespaces  # None: probe once
        self._use_cgroups = use_cgroups
        self._layout: CgroupLayout | None = None
        self._grace = grace
        self._start_timeout = start_timeout
        self._kernels: dict[str, _Kernel] = {}
        self._starting: set[str] = set()
        self._exits: asyncio.Queue[m.KernelExit] = asyncio.Queue()

    async def create(self, spec: m.KernelSpec) -> m.KernelHandle:
        kernel_dir = self._check(spec)
        if spec.kernel_id in self._kernels or spec.kernel_id in self._starting:
            raise m.KernelAlreadyExists(f"kernel {spec.kernel_id} exists", metadata=_md(spec))
        self._starting.add(spec.kernel_id)
        try:
            kernel = await self._spawn(spec, kernel_dir)
        finally:
            self._starting.discard(spec.kernel_id)
        self._kernels[spec.kernel_id] = kernel
        kernel.monitor = asyncio.create_task(self._monitor(kernel), name=f"kernel-{spec.kernel_id}")
        proc = kernel.proc

        def alive() -> bool:
            return proc.returncode is None

        try:
            await kernel.client.wait_ready(within=self._start_timeout, alive=alive)
        except BaseException as exc:  # cancellation too: never leave a kernel nobody knows of
            # A batch task that finished before answering a ping is fine: the monitor reports it.
            finished = bool(spec.startup_command) and proc.returncode is not None
            if not (finished and isinstance(exc, m.KernelUnavailable)):
                kernel.report = False
                tail = _tail(kernel_dir / "runner.log")
                kernel.settled.set()
                await self._stop(kernel, m.REASON_START_FAILED)
                if not isinstance(exc, m.KernelUnavailable):
                    raise
                msg = f"kernel runner did not come up ({exc}, exit code {proc.returncode}): {tail}"
                raise m.KernelStartFailed(msg, metadata=_md(spec)) from exc
        kernel.settled.set()
        return kernel.handle

    async def destroy(self, kernel_id: str, reason: str) -> None:
        kernel = self._kernels.get(kernel_id)
        if kernel is not None:
            await self._stop(kernel, reason)

    async def execute(
        self, kernel_id: str, mode: m.ExecMode, code: str, timeout: float
    ) -> m.ExecResult:
        kernel = self._kernels.get(kernel_id)
        if kernel is None or kernel.exited.is_set():
            raise m.KernelNotFound(
                f"kernel {kernel_id} is not running", metadata={"kernel_id": kernel_id}
            )
        try:
            return await kernel.client.execute(mode, code, timeout)
        except m.KernelUnavailable:
            # The code may have ended the kernel (os._exit, OOM kill): report that as its result.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kernel.exited.wait(), 2.0)
            if not kernel.exited.is_set():
                raise
            code_ = _exit_code(kernel.proc.returncode or 0)
            why = "ran out of memory" if kernel.oom_killed else f"exited with code {code_}"
            return m.ExecResult(
                status=m.ExecStatus.FAILED,
                exit_code=code_,
                error_name="OutOfMemory" if kernel.oom_killed else "KernelExited",
                error_message=f"the kernel {why} while running the code",
            )

    def list(self) -> list[m.KernelHandle]:
        return [k.handle for k in self._kernels.values() if k.report and not k.exited.is_set()]

    async def wait_exit(self) -> m.KernelExit:
        return await self._exits.get()

    async def close(self) -> None:
        kernels = list(self._kernels.values())
        await asyncio.gather(*(self._stop(k, m.REASON_AGENT_SHUTDOWN) for k in kernels))
        leftovers = [*(self._layout.parents if self._layout else ())]
        leftovers += [self._socket_dir] if self._own_socket_dir and self._socket_dir else []
        for path in leftovers:
            with contextlib.suppress(OSError):  # still in use (another agent's cgroups): leave it
                path.rmdir()

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
            if d.is_dir() and _SAFE_NAME.fullmatch(d.name) and d.name not in self._kernels
        ]
        for kernel_id in reaped:
            groups = [parent / kernel_id for parent in (layout.parents if layout else ())]
            await _kill_cgroups([g for g in groups if g.is_dir()])
            await asyncio.to_thread(_remove_tree, self._base / kernel_id)
        if reaped:
            log.warning("ended %d kernels left by a previous run: %s", len(reaped), reaped)
        return reaped

    # -- internals --------------------------------------------------------------------------

    async def _spawn(self, spec: m.KernelSpec, kernel_dir: Path) -> _Kernel:
        workdir, socket = kernel_dir / "work", self._socket(spec.kernel_id)
        cgroups: list[Path] = []
        try:
            log_file = await asyncio.to_thread(_prepare_dirs, kernel_dir, workdir, spec.mounts)
            with log_file:
                namespaces = await self._namespaces()
                mask = self._device_mask(spec, kernel_dir, namespaces)
                cgroups = make_kernel_cgroups(
                    self._cgroup_layout(), spec.kernel_id, spec.cpu, spec.mem_bytes
                )
                proc = await asyncio.create_subprocess_exec(
                    *_command(self._python, spec, socket, workdir, cgroups, namespaces, mask),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    cwd=workdir,
                    env=_environ(spec, workdir),
                    start_new_session=True,  # its own process group: one killpg stops it all
                )
        except (OSError, m.KernelStartFailed) as exc:
            discard_cgroups(cgroups)
            await asyncio.to_thread(_remove_tree, kernel_dir)
            msg = f"cannot start kernel {spec.kernel_id}: {exc}"
            raise m.KernelStartFailed(msg, metadata=_md(spec)) from exc
        handle = m.KernelHandle(
            kernel_id=spec.kernel_id, session_id=spec.session_id, pid=proc.pid, workdir=str(workdir)
        )
        return _Kernel(spec, handle, proc, cgroups, kernel_dir, socket, RunnerClient(socket))

    def _device_mask(self, spec: m.KernelSpec, kernel_dir: Path, namespaces: bool) -> Sequence[str]:
        hidden = hidden_nodes(self._managed_devices, spec.devices)
        if hidden and not namespaces:
            msg = "cannot hide other kernels' accelerator devices without a mount namespace"
            raise m.KernelStartFailed(msg, metadata=_md(spec))
        return mask_prefix(hidden, kernel_dir / ".devmask")

    def _check(self, spec: m.KernelSpec) -> Path:
        if not _SAFE_NAME.fullmatch(spec.kernel_id):
            raise InvalidArgument(f"unusable kernel id {spec.kernel_id!r}", metadata=_md(spec))
        for mount in spec.mounts:
            if not _SAFE_NAME.fullmatch(mount.name):
                raise InvalidArgument(f"unusable mount name {mount.name!r}", metadata=_md(spec))
            if not Path(mount.host_path).is_dir():
                msg = f"vfolder path {mount.host_path} does not exist on this node"
                raise FailedPrecondition(msg, metadata=_md(spec))
        if len(str(self._socket(spec.kernel_id))) > _MAX_UNIX_PATH:
            msg = f"socket dir {self._socket_dir} is too long for a unix socket path"
            raise FailedPrecondition(msg, metadata=_md(spec))
        return self._base / spec.kernel_id

    def _socket(self, kernel_id: str) -> Path:
        if self._socket_dir is None:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="shipyard-"))
        return self._socket_dir / f"{kernel_id}.sock"

    async def _namespaces(self) -> bool:
        if self._use_ns is None:
            self._use_ns = await _probe_unshare()
            if not self._use_ns:
                log.warning("unshare is not usable here: kernels share the agent's namespaces")
        return self._use_ns

    def _cgroup_layout(self) -> CgroupLayout | None:
        if self._use_cgroups is False:
            return None
        if self._layout is None:
            self._layout = probe_cgroups()
            if self._layout is None:
                if self._use_cgroups:
                    raise m.KernelStartFailed("cgroups were required but none are writable")
                self._use_cgroups = False
                log.warning("no writable cgroups: memory limited by RLIMIT_AS, CPU unlimited")
        return self._layout

    async def _monitor(self, kernel: _Kernel) -> None:
        returncode = await kernel.proc.wait()
        kernel.oom_killed = oom_killed(kernel.cgroups)  # read before the cgroups go away
        kernel.exited.set()
        await kernel.settled.wait()
        try:
            await self._cleanup(kernel)
        except Exception:
            log.exception("cleaning up kernel %s failed", kernel.spec.kernel_id)
        self._kernels.pop(kernel.spec.kernel_id, None)
        if kernel.report:
            spec = kernel.spec
            default = m.REASON_TASK_FINISHED if spec.startup_command else m.REASON_SELF_TERMINATED
            default = m.REASON_OOM_KILLED if kernel.oom_killed else default
            exit_ = m.KernelExit(
                kernel_id=spec.kernel_id,
                session_id=spec.session_id,
                exit_code=_exit_code(returncode),
                reason=kernel.stop_reason or default,
            )
            self._exits.put_nowait(exit_)

    async def _stop(self, kernel: _Kernel, reason: str) -> None:
        """SIGTERM the whole kernel, SIGKILL it after the grace period, wait for the cleanup."""
        if kernel.stop_reason is None:
            kernel.stop_reason = reason
        if not kernel.exited.is_set():
            _signal_all(kernel, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(kernel.monitor), self._grace)
        except TimeoutError:
            _signal_all(kernel, signal.SIGKILL)
            await asyncio.shield(kernel.monitor)

    async def _cleanup(self, kernel: _Kernel) -> None:
        # The runner is gone; stragglers (a group member, a setsid'd child in a cgroup) are not.
        _signal_all(kernel, signal.SIGKILL)
        await remove_cgroups(kernel.cgroups, kill=lambda: _signal_all(kernel, signal.SIGKILL))
        await asyncio.to_thread(_remove_tree, kernel.kernel_dir)
        kernel.socket.unlink(missing_ok=True)


async def _kill_cgroups(groups: list[Path]) -> None:
    def kill() -> None:
        signal_members(groups, signal.SIGKILL)

    kill()
    await remove_cgroups(groups, kill=kill)


def _md(spec: m.KernelSpec) -> dict[str, str]:
    return {"kernel_id": spec.kernel_id, "session_id": spec.session_id}


def _command(
    python: str,
    spec: m.KernelSpec,
    socket: Path,
    workdir: Path,
    cgroups: list[Path],
    ns: bool,
    device_mask: Sequence[str],
) -> list[str]:
    runner = [python, str(RUNNER_SCRIPT), "--socket", str(socket), "--workdir", str(workdir)]
    if spec.startup_command:
        runner += ["--startup-command", spec.startup_command]
    prefix = [*UNSHARE, *device_mask] if ns else []
    return [*join_command(cgroups, spec.mem_bytes), *prefix, *runner]


def _environ(spec: m.KernelSpec, workdir: Path) -> dict[str, str]:
    # A fresh environment: the agent's own variables (tokens, URLs) must not leak into kernels.
    env = {"PATH": os.environ.get("PATH", DEFAULT_PATH), "LANG": "C.UTF-8"}
    env |= {"SHIPYARD_KERNEL_ID": spec.kernel_id, "SHIPYARD_SESSION_ID": spec.session_id}
    return env | dict(spec.environ) | {"HOME": str(workdir)}


def _prepare_dirs(kernel_dir: Path, workdir: Path, mounts: tuple[m.Mount, ...]) -> BinaryIO:
    """Make the work dir with its vfolder links; return the runner's log file, opened."""
    _remove_tree(kernel_dir)  # a leftover of an agent that crashed
    workdir.mkdir(parents=True)
    for mount in mounts:
        (workdir / mount.name).symlink_to(mount.host_path, target_is_directory=True)
    return (kernel_dir / "runner.log").open("ab")


def _remove_tree(path: Path) -> None:
    # rmtree unlinks symlinks instead of following them, so vfolders are never touched.
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=lambda *a: log.warning("cannot remove %s", a[1]))


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_bytes()[-size:].decode(errors="replace").strip() or "(empty)"
    except OSError:
        return "(none)"


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _signal_all(kernel: _Kernel, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(kernel.proc.pid, signum)
    signal_members(kernel.cgroups, signum)


async def _probe_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        proc = await asyncio.create_subprocess_exec(
            *UNSHARE, "true", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        return await asyncio.wait_for(proc.wait(), 10) == 0
    except (OSError, TimeoutError):
        return False
