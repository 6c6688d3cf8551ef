"""Kernels as the agent sees them: what to start, how it runs code, and how it ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from libs.core.errors import AlreadyExists, NotFound, Unavailable

# Exit reasons (kebab-case) reported by KernelBackend.wait_exit.
REASON_SELF_TERMINATED = "self-terminated"
REASON_TASK_FINISHED = "task-finished"
REASON_USER_REQUESTED = "user-requested"
REASON_AGENT_SHUTDOWN = "agent-shutdown"
REASON_START_FAILED = "start-failed"
REASON_OOM_KILLED = "oom-killed"
# The kernel's work directory; every vfolder mounts below it.
WORKDIR = "/home/work"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """A vfolder (or a subdirectory of one) on the host, visible in the kernel at `target`."""

    host_path: str
    name: str
    read_only: bool = False
    kernel_path: str = ""  # absolute, under /home/work; "" means /home/work/<name>

    @property
    def target(self) -> str:
        return self.kernel_path or f"{WORKDIR}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelSpec:
    kernel_id: str
    session_id: str
    image: str
    cpu: Decimal
    mem_bytes: int
    mounts: tuple[Mount, ...] = ()
    environ: Mapping[str, str] = field(default_factory=dict)
    # Non-empty for batch sessions: the kernel runs it once and ends with its exit code.
    startup_command: str = ""
    # Requested slots besides cpu and mem (e.g. "cuda.device"), served by accelerator plugins.
    accelerator_slots: Mapping[str, Decimal] = field(default_factory=dict)
    # Host device nodes the kernel may use (its grant); a backend exposes these and no others.
    devices: tuple[str, ...] = ()
    # Cluster sessions: this kernel's host name and every kernel's (host name, address).
    cluster_hostname: str = ""
    cluster_hosts: tuple[tuple[str, str], ...] = ()
    # The network the kernel joins, once attached (None: a private, empty network).
    network: KernelNetwork | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelNetwork:
    """A prepared cluster network: the namespace to join, its host name and hosts file."""

    netns_path: str
    hostname: str
    hosts_file: str


class ExecMode(StrEnum):
    QUERY = "query"
    BATCH = "batch"


class ExecStatus(StrEnum):
    FINISHED = "finished"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CONTINUED = "continued"  # a polled run (flush timeout) that has not ended yet
    WAITING_INPUT = "waiting_input"  # a polled run waiting in input()


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecResult:
    status: ExecStatus
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    error_name: str = ""
    error_message: str = ""
    displays: tuple[Display, ...] = ()  # rich outputs of a cell run on a Jupyter kernel
    truncated: bool = False  # output was cut to fit one reply (a marker in stdout/stderr)
    run_id: str = ""  # a polled run: the id CONTINUE and INPUT name
    prompt: str | None = None  # WAITING_INPUT: the input() prompt
    password: bool = False  # WAITING_INPUT: the answer should not be echoed


@dataclass(frozen=True, slots=True)
class Display:
    """A rich output: MIME type -> content (binary types base64); `result`: the cell's value."""

    data: Mapping[str, str]
    result: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelHandle:
    kernel_id: str
    session_id: str
    pid: int
    workdir: str


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelUsage:
    """What a kernel used so far (cumulative counters; memory as of now)."""

    kernel_id: str
    cpu_seconds: float = 0.0
    mem_bytes: int = 0
    io_read_bytes: int = 0
    io_write_bytes: int = 0
    # Per accelerator kind, utilization in percent, when a plugin reports it.
    accelerator_util: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelExit:
    kernel_id: str
    session_id: str
    exit_code: int
    reason: str


@dataclass(frozen=True, slots=True)
class TerminalEvent:
    """What a kernel's terminal showed: output bytes, or (last) the shell's exit code."""

    data: bytes = b""
    exit_code: int | None = None


class KernelNotFound(NotFound):
    reason = "KERNEL_NOT_FOUND"


class KernelAlreadyExists(AlreadyExists):
    reason = "KERNEL_ALREADY_EXISTS"


class KernelStartFailed(Unavailable):
    reason = "KERNEL_START_FAILED"


class KernelUnavailable(Unavailable):
    """The kernel's runner cannot be reached (still starting, hung or gone)."""

    reason = "KERNEL_UNAVAILABLE"
