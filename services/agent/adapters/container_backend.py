"""The container backend: each kernel is a container of a Docker-API engine (Docker or Podman).

The kernel runner (stdlib only) is bound read-only into the container and run by the image's
`ai.backend.runtime-path` interpreter as an unprivileged uid, with every capability dropped,
no-new-privileges, its own network namespace and cgroup limits. The agent reaches the runner over
a unix socket in a per-kernel directory bound into the container, never over the container's IP.
Containers carry this agent's id as a label: a restarted agent adopts the ones still running and
removes the rest (`adopt`). Engine calls: `container_engine.py`; the create body:
`container_config.py`.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import logging
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from typing_extensions import override

from libs.core.errors import InvalidArgument
from services.agent.adapters import container_config as cc
from services.agent.adapters.container_dirs import (
    host_paths_from,
    prepare_host_dirs,
    remove_host_dirs,
)
from services.agent.adapters.container_engine import Engine, PullListener
from services.agent.adapters.egress_policy import EgressPolicy
from services.agent.adapters.kernel_spec_checks import check_spec, spec_metadata
from services.agent.adapters.kernel_stats import docker_usage
from services.agent.adapters.runner_client import KEPT_CONNECTIONS, RunnerClient
from services.agent.adapters.runner_kernels import RunnerKernel, RunnerKernels, Signal
from services.agent.domain import model as m

log = logging.getLogger(__name__)

_KEPT_LOGS = 256  # ended kernels whose last output stays readable
_LOG_TAIL = 2000  # lines kept of an ended kernel
_MAX_LOG_CHARS = 1 << 20  # one answer's worth: the end of the output, within gRPC's message cap

# Told when a kernel's image must be pulled before it can start (the PULLING step).
KernelPullListener = Callable[[m.KernelSpec], Awaitable[None]]


@dataclass(eq=False, kw_only=True)
class _Kernel(RunnerKernel):
    container_id: str
    paths: cc.HostPaths


class ContainerBackend(RunnerKernels[_Kernel]):
    name = "container"
    _settle = 5.0

    def __init__(
        self,
        engine: Engine,
        *,
        agent_id: str,
        base_dir: Path,
        isolation: cc.Isolation,
        on_pull: KernelPullListener | None = None,
        grace: float = 5.0,
        start_timeout: float = 30.0,
        run_root: Path | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        super().__init__(grace=grace, start_timeout=start_timeout)
        self._engine = engine
        self._egress = egress  # removed with the kernels at close, kept for adopted ones
        self._agent_id = agent_id
        self._base = base_dir.resolve()
        self._isolation = isolation
        self._on_pull = on_pull
        # Runner sockets live under a short, per-agent path: unix socket paths are capped at 108
        # bytes. Stable across restarts (a hash of the agent id) so adopted kernels keep theirs.
        digest = hashlib.sha256(f"{agent_id}\0{self._base}".encode()).hexdigest()[:12]
        self._run_root = run_root or Path(tempfile.gettempdir()) / f"shipyard-c-{digest}"
        self._logs: OrderedDict[str, str] = OrderedDict()

    # -- the KernelBackend port (the rest: RunnerKernels) ---------------------------------------

    async def kernel_stats(self) -> builtins.list[m.KernelUsage]:
        live = self._live()
        found = await asyncio.gather(*(self._engine.stats(k.container_id) for k in live))
        return [docker_usage(k.spec.kernel_id, s) for k, s in zip(live, found, strict=True) if s]

    async def close(self) -> None:
        """Destroy every kernel (the agent shuts down for good)."""
        await self._stop_all(m.REASON_AGENT_SHUTDOWN)
        if self._egress is not None:
            await self._egress.remove()
        await self._engine.close()

    # -- beyond the port -----------------------------------------------------------------------

    async def detach(self) -> None:
        """Stop watching without stopping the kernels: the next run of this agent adopts them."""
        for kernel in self._kernels.values():
            if kernel.monitor is not None:
                kernel.monitor.cancel()
            kernel.client.close()
        self._kernels.clear()
        await self._engine.close()

    async def adopt(self) -> tuple[builtins.list[str], builtins.list[str]]:
        """Take over this agent's containers that a previous run left: (adopted, removed) ids.

        A container still running whose runner answers keeps running and is watched again;
        anything else (ended, unanswering, unlabelled) is removed with its directories.
        """
        adopted: builtins.list[str] = []
        removed: builtins.list[str] = []
        for found in await self._engine.owned(cc.LABEL_AGENT, self._agent_id):
            labels = found.labels
            kid, sid = labels.get(cc.LABEL_KERNEL, ""), labels.get(cc.LABEL_SESSION, "")
            paths = host_paths_from(labels)
            if found.running and kid and paths is not None and kid not in self._kernels:
                kernel = _Kernel(
                    # What adoption needs of the spec; the engine keeps the limits themselves.
                    spec=m.KernelSpec(
                        kernel_id=kid, session_id=sid, image="", cpu=Decimal(0), mem_bytes=0
                    ),
                    handle=m.KernelHandle(
                        kernel_id=kid, session_id=sid, pid=0, workdir=str(paths.workdir)
                    ),
                    container_id=found.container_id,
                    paths=paths,
                    client=RunnerClient(paths.socket, keep=KEPT_CONNECTIONS),
                    batch=labels.get(cc.LABEL_BATCH) == "1",
                )
                try:
                    await kernel.client.ping(within=5.0)
                except m.KernelUnavailable:
                    pass
                else:
                    kernel.settled.set()
                    await self._track(kernel)
                    adopted.append(kid)
                    continue
            await self._engine.remove(found.container_id)
            if paths is not None:
                await asyncio.to_thread(remove_host_dirs, paths)
            removed.append(kid or found.container_id)
        if adopted or removed:
            log.warning("adopted kernels %s; removed leftovers %s", adopted, removed)
        return adopted, removed

    async def probe(self) -> str | None:
        """Why this backend could not start a kernel now (None: it could)."""
        return await self._engine.problem()

    async def images(self) -> builtins.list[str]:
        """The images this node can start without a pull, as registry/repository:tag."""
        tags = await self._engine.image_tags()
        return sorted({_canonical(t) for t in tags if t and not t.startswith("<none>")})

    async def logs(self, kernel_id: str, tail: int = 0) -> str:
        """A kernel's console output (its container's log), also for a while after it ended.

        At most the last MiB of it: a kernel printing without end must not break the call.
        """
        kernel = self._kernels.get(kernel_id)
        if kernel is not None:
            text = await self._engine.logs(kernel.container_id, tail)
            if text is not None:
                return text[-_MAX_LOG_CHARS:]
        if kernel_id in self._logs:
            kept = self._logs[kernel_id]
            text = "".join(kept.splitlines(keepends=True)[-tail:]) if tail > 0 else kept
            return text[-_MAX_LOG_CHARS:]
        raise m.KernelNotFound(
            f"kernel {kernel_id} is not on this agent", metadata={"kernel_id": kernel_id}
        )

    # -- internals -----------------------------------------------------------------------------

    @override
    def _check(self, spec: m.KernelSpec) -> None:
        check_spec(spec)
        if not spec.image:
            msg = "the container backend needs an image"
            raise InvalidArgument(msg, metadata=spec_metadata(spec))

    @override
    async def _start(self, spec: m.KernelSpec) -> _Kernel:
        on_pull = self._on_pull
        listener: PullListener | None = None if on_pull is None else (lambda: on_pull(spec))
        labels = await self._engine.image_labels(spec.image, listener)
        python = cc.runtime_path(spec.image, labels)
        paths = cc.HostPaths(
            kernel_dir=self._base / spec.kernel_id, run_dir=self._run_root / spec.kernel_id
        )
        try:
            await asyncio.to_thread(
                prepare_host_dirs, paths, spec.mounts, self._run_root, self._isolation
            )
            body = cc.create_body(
                spec,
                agent_id=self._agent_id,
                python=python,
                paths=paths,
                isolation=self._isolation,
                # The kernel's granted device nodes (KernelSpec.devices, from the accelerator
                # plugins); read this way until that field reaches this branch.
                devices=tuple(spec.devices),
            )
            container_id = await self._engine.run(body, name=f"shipyard-{spec.kernel_id}")
        except BaseException as exc:
            await asyncio.to_thread(remove_host_dirs, paths)
            if isinstance(exc, OSError):
                msg = f"cannot prepare kernel {spec.kernel_id}: {exc}"
                raise m.KernelStartFailed(msg, metadata=spec_metadata(spec)) from exc
            raise
        handle = m.KernelHandle(
            kernel_id=spec.kernel_id, session_id=spec.session_id, pid=0, workdir=str(paths.workdir)
        )
        return _Kernel(
            spec=spec,
            handle=handle,
            client=RunnerClient(paths.socket, keep=KEPT_CONNECTIONS),
            batch=bool(spec.startup_command),
            container_id=container_id,
            paths=paths,
        )

    @override
    async def _track(self, kernel: _Kernel) -> None:
        self._kernels[kernel.spec.kernel_id] = kernel
        pid = await self._engine.pid(kernel.container_id)
        kernel.handle = replace(kernel.handle, pid=pid)
        self._watch(kernel)

    @override
    async def _wait_end(self, kernel: _Kernel) -> tuple[int, bool]:
        ended = await self._engine.wait(kernel.container_id)
        oom = ended.oom_killed or await asyncio.to_thread(kernel.paths.oom_flag.exists)
        return ended.exit_code, oom

    @override
    async def _signal(self, kernel: _Kernel, which: Signal) -> None:
        await self._engine.kill(kernel.container_id, which)

    @override
    async def _stop_unstarted(self, kernel: _Kernel) -> str:
        output = await self._engine.logs(kernel.container_id, 20) or "(no output)"
        kernel.settled.set()  # only now: the cleanup removes the container and its log
        await self._stop(kernel, m.REASON_START_FAILED)
        return output

    @override
    async def _cleanup(self, kernel: _Kernel) -> None:
        text = await self._engine.logs(kernel.container_id, _LOG_TAIL)
        if text is not None:
            self._logs[kernel.spec.kernel_id] = text
            while len(self._logs) > _KEPT_LOGS:
                self._logs.popitem(last=False)
        await self._engine.remove(kernel.container_id)
        await asyncio.to_thread(remove_host_dirs, kernel.paths)


def _canonical(tag: str) -> str:
    """Docker's short spelling ("python:3.11") as a full reference; Podman's is one already."""
    first, _, rest = tag.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return tag
    return f"docker.io/{tag}" if rest else f"docker.io/library/{tag}"
