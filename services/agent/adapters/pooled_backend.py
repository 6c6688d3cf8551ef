"""The process backend with a pool of pre-started kernels (docs/performance.md, "Pre-started
kernels"; the hand-out itself: `process_kernel.py`; the pool: `kernel_pool.py`).

A start that `poolable` allows takes a waiting kernel and hands it out; any other start, or one
finding the pool empty or its kernel failing at hand-out, starts a fresh kernel as the plain
backend does. Pool kernels are in no kernel table until handed out, so neither the registry nor
the heartbeat's usage ever sees them; they die with the agent as every kernel does
(`bwrap --die-with-parent`), and a crashed agent's are reaped at its next start like the rest
(their directories are named by their pool ids).
"""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal
from typing import Any

from typing_extensions import override

from services.agent.adapters.kernel_pool import KernelPool
from services.agent.adapters.process_backend import ProcessBackend
from services.agent.adapters.process_kernel import ProcessKernel, hand_out, poolable
from services.agent.domain import model as m

log = logging.getLogger(__name__)

POOL_PREFIX = "pool-"  # a pre-started kernel's id until it is handed out
POOL_READY_WITHIN = 300.0  # seconds a pool kernel's runner may take to answer


class PooledProcessBackend(ProcessBackend):
    def __init__(self, *args: Any, pool_size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool: KernelPool[ProcessKernel] | None = None
        if pool_size > 0:
            self._pool = KernelPool(
                pool_size,
                start=self._start_pooled,
                ready=self._pooled_ready,
                discard=self._discard,
                alive=self._alive,
            )

    def start_pool(self) -> bool:
        """Begin pre-starting kernels, where this host allows it: cgroup v1 (only v1 groups can
        be renamed, and a handed-out kernel's must carry the real kernel id). False: none."""
        if self._pool is None:
            return False
        try:
            layout = self._cgroup_layout()
        except m.KernelStartFailed:
            layout = None
        if layout is None or layout.version != 1:
            log.warning("no pre-started kernels: they need cgroup v1, which this host lacks")
            self._pool = None
            return False
        self._pool.fill()
        return True

    def pooled(self) -> int:
        """How many pre-started kernels wait now."""
        return len(self._pool) if self._pool is not None else 0

    def hands_out(self, spec: m.KernelSpec) -> bool:
        """Whether a create of `spec` now takes a pre-started kernel (`ports.PrestartedKernels`);
        `take` happens before the create's first await."""
        return self._pool is not None and len(self._pool) > 0 and poolable(spec)

    @override
    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        await super().close()

    @override
    async def _start(self, spec: m.KernelSpec) -> ProcessKernel:
        kernel = self._pool.take() if self._pool is not None and poolable(spec) else None
        if kernel is None:
            return await self._launch(spec)
        kernel.settled.clear()  # from here, its end waits for this start to give it up
        pool_id = kernel.spec.kernel_id
        try:
            await hand_out(
                kernel,
                spec,
                kernel_dir=self._base / spec.kernel_id,
                socket=self._socket(spec.kernel_id),
                cgroup_v=1,
            )
        except Exception as exc:
            log.warning(
                "kernel %s: pre-started kernel failed (%s); fresh start", spec.kernel_id, exc
            )
            await self._discard(kernel)
            return await self._launch(spec)
        except BaseException:
            await self._discard(kernel)
            raise
        log.info("kernel %s: handed out pre-started kernel %s", spec.kernel_id, pool_id)
        return kernel

    async def _start_pooled(self) -> ProcessKernel:
        """A kernel for the pool, in no table and reported to no one (its runner may not answer
        yet: `_pooled_ready`)."""
        kernel_id = f"{POOL_PREFIX}{secrets.token_hex(6)}"
        spec = m.KernelSpec(
            kernel_id=kernel_id, session_id="", image="", cpu=Decimal(0), mem_bytes=0
        )
        kernel = await self._launch(spec, pooled=True)
        kernel.report = False
        self._watch(kernel)
        return kernel

    async def _pooled_ready(self, kernel: ProcessKernel) -> None:
        """Wait for a pool kernel's runner to answer (the pool stops it otherwise). At the
        lowest CPU weight it gets only the CPU no session's kernel wants, so it may take far
        longer than a session's start may; nobody waits for it."""
        within = max(self._start_timeout, POOL_READY_WITHIN)
        await kernel.client.wait_ready(within=within, alive=lambda: self._alive(kernel))
        kernel.settled.set()  # an end in the pool cleans up at once
        log.info("pre-started kernel %s ready", kernel.spec.kernel_id)

    async def _discard(self, kernel: ProcessKernel) -> None:
        kernel.report = False
        await self._stop_unstarted(kernel)

    @override
    async def _cleanup(self, kernel: ProcessKernel) -> None:
        if self._pool is not None:
            self._pool.drop(kernel)
        await super()._cleanup(kernel)
