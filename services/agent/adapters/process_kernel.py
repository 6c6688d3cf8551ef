"""One process-backend kernel, and how a pre-started one becomes a session's.

A pre-started kernel (`kernel_pool.py`) is a sandbox like any other, started before its session
was known: under a pool id, in cgroups without limits and with the lowest CPU weight, its runner
waiting for `setup` with only the base environment. It may only stand in for a fresh start where
the sandbox would be identical (`poolable`); `hand_out` then makes it exactly the session's
(docs/performance.md, "Pre-started kernels"). Either way, where `boostable`, the kernel's CPU
quota comes only once its start is over (`cpu_boost.py`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from services.agent.adapters.cgroups import rename_cgroup, set_cpu_weight, set_limits
from services.agent.adapters.kernel_dirs import remove_socket, remove_tree, staging_dir
from services.agent.adapters.runner_client import KEPT_CONNECTIONS, RunnerClient
from services.agent.adapters.runner_kernels import RunnerKernel
from services.agent.adapters.sandbox import WORKDIR
from services.agent.adapters.sandbox_launch import kernel_environ
from services.agent.domain import model as m

# Read once, when the runner's interpreter and C library start (locale, malloc tuning): a
# pre-started runner began without the session's values, so such a session starts afresh.
_READ_AT_START = ("LANG", "LANGUAGE", "GLIBC_TUNABLES")
_READ_AT_START_PREFIXES = ("LC_", "MALLOC_")
# What a Jupyter kernel's start reads to find code to run (PYTHONSTARTUP, PYTHONPATH, config
# files of JUPYTER_CONFIG_DIR, ...): a session naming any starts it under its quota.
_READ_BY_JUPYTER_START = ("PYTHON", "JUPYTER", "IPYTHON")


@dataclass(eq=False, kw_only=True)
class ProcessKernel(RunnerKernel):
    proc: asyncio.subprocess.Process
    cgroups: list[Path]
    kernel_dir: Path
    socket: Path
    log_copy: asyncio.Task[None]


def poolable(spec: m.KernelSpec) -> bool:
    """Whether a pre-started kernel's sandbox is the one `spec` would get: no mounts, devices,
    accelerators, startup command or cluster network, and no variable read at start."""
    special = (
        spec.mounts,
        spec.devices,
        spec.accelerator_slots,
        spec.startup_command,
        spec.cluster_hostname,
        spec.cluster_hosts,
        spec.network,
    )
    read_at_start = any(
        k in _READ_AT_START or k.startswith(_READ_AT_START_PREFIXES) for k in spec.environ
    )
    return not any(special) and not read_at_start


def boostable(spec: m.KernelSpec) -> bool:
    """Whether `spec`'s kernel may start without its CPU quota: nothing of the session's can run
    before the start is over (docs/kernel-isolation.md, the cgroups row)."""
    return poolable(spec) and not any(k.startswith(_READ_BY_JUPYTER_START) for k in spec.environ)


def limit_cpu(kernel: ProcessKernel, cgroup_v: int) -> None:
    """Give a kernel started without it its session's CPU quota, at a session's CPU weight."""
    try:
        set_limits(cgroup_v, kernel.cgroups, kernel.spec.cpu, 0)
        set_cpu_weight(kernel.cgroups, low=False)
    except OSError as exc:  # its groups are gone: so is the kernel
        msg = f"kernel {kernel.spec.kernel_id}: cannot set its CPU quota: {exc}"
        raise m.KernelUnavailable(msg) from exc


async def hand_out(
    kernel: ProcessKernel, spec: m.KernelSpec, *, kernel_dir: Path, socket: Path, cgroup_v: int
) -> None:
    """Make the pre-started `kernel` the one of `spec`, before anyone learns of it: its paths and
    cgroups named by the real kernel id, the session's memory limit and CPU weight (and CPU
    quota, unless `boostable`: then it comes once the start is over), then its environment and
    ids given to the runner, which starts its Jupyter kernel only after that. On an error the
    caller stops it: `kernel` always names the paths and groups it has at that moment."""
    kernel.spec = spec
    kernel.handle = m.KernelHandle(
        kernel_id=spec.kernel_id, session_id=spec.session_id, pid=kernel.proc.pid, workdir=WORKDIR
    )
    # Renames are single system calls: not worth a thread hop each.
    remove_tree(kernel_dir)  # a leftover of an agent that crashed, as a fresh start does
    kernel.kernel_dir = kernel.kernel_dir.rename(kernel_dir)  # the log copy keeps its file open
    remove_socket(socket)
    staging_dir(kernel.socket).rename(staging_dir(socket))
    kernel.socket = kernel.socket.rename(socket)  # the runner keeps listening on it
    for i, group in enumerate(kernel.cgroups):
        kernel.cgroups[i] = rename_cgroup(group, spec.kernel_id)
    cpu = Decimal(0) if boostable(spec) else spec.cpu  # 0: no quota yet
    set_limits(cgroup_v, kernel.cgroups, cpu, spec.mem_bytes)
    set_cpu_weight(kernel.cgroups, low=boostable(spec))  # a boost takes only spare CPU
    kernel.client.close()
    kernel.client = RunnerClient(socket, keep=KEPT_CONNECTIONS)
    await kernel.client.setup(kernel_environ(spec))
    kernel.answered = True  # the setup's reply: no ping after it
    kernel.report = True
