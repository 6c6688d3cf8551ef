"""What the container backend asks the engine for: one kernel's Docker Engine API create body.

Pure functions of the kernel spec, the image's labels and the host paths, so that the isolation a
kernel gets (limits, capabilities, mounts, user, network) reads in one place.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.agent.domain import model as m
from services.agent.kernel_runner import RUNNER_SCRIPT

# Labels the backend puts on its containers: which agent owns them, and enough to adopt them.
LABEL_AGENT = "ai.shipyard.agent-id"
LABEL_KERNEL = "ai.shipyard.kernel-id"
LABEL_SESSION = "ai.shipyard.session-id"
LABEL_KERNEL_DIR = "ai.shipyard.kernel-dir"
LABEL_RUN_DIR = "ai.shipyard.run-dir"
LABEL_BATCH = "ai.shipyard.batch"
# The image label naming the interpreter that runs the kernel runner (Backend.AI's convention).
LABEL_RUNTIME_PATH = "ai.backend.runtime-path"

# Paths inside the container.
WORKDIR = m.WORKDIR
RUNNER_DIR = "/opt/shipyard/runner"
RUN_DIR = "/opt/shipyard/run"
SOCKET_NAME = "runner.sock"
OOM_FLAG = "oom-killed"  # created in the run dir by the runner when the OOM killer ended it
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CPU_PERIOD = 100_000  # µs; the quota is cores x period


@dataclass(frozen=True, slots=True, kw_only=True)
class Isolation:
    """Per-agent settings every kernel container gets."""

    uid: int
    gid: int
    network: str
    pids_limit: int
    shm_bytes: int
    jupyter: bool = False  # query mode on the image's Jupyter kernel, when it has one
    # The host directory the engine binds the kernel runner from (publish_runner).
    runner_dir: Path = RUNNER_SCRIPT.parent


@dataclass(frozen=True, slots=True, kw_only=True)
class HostPaths:
    """A kernel's directories on the host: its work dir and the dir holding its runner socket."""

    kernel_dir: Path
    run_dir: Path

    @property
    def workdir(self) -> Path:
        return self.kernel_dir / "work"

    @property
    def socket(self) -> Path:
        return self.run_dir / SOCKET_NAME

    @property
    def oom_flag(self) -> Path:
        return self.run_dir / OOM_FLAG


def publish_runner(directory: Path) -> Path:
    """Copy the kernel runner and its sibling modules into `directory`, for an engine that
    cannot see the agent's own files (an agent in a container names host paths: this one is
    shared at the same path)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    for source in RUNNER_SCRIPT.parent.glob("*.py"):  # the runner and the modules beside it
        shutil.copy2(source, directory / source.name)
    return directory


def runtime_path(image: str, labels: dict[str, str]) -> str:
    """The image's interpreter for the runner; a clear error when the image does not say."""
    path = labels.get(LABEL_RUNTIME_PATH, "")
    if not path.startswith("/"):
        raise m.KernelStartFailed(
            f"image {image} has no usable label {LABEL_RUNTIME_PATH} (got {path!r}): "
            "it cannot run a kernel",
            metadata={"image": image},
        )
    return path


def create_body(
    spec: m.KernelSpec,
    *,
    agent_id: str,
    python: str,
    paths: HostPaths,
    isolation: Isolation,
    devices: tuple[str, ...] = (),
) -> dict[str, Any]:
    # -I: the runner ignores the session's PYTHON* variables and the user's site directory.
    cmd = [python, "-I", f"{RUNNER_DIR}/{RUNNER_SCRIPT.name}"]
    cmd += ["--socket", f"{RUN_DIR}/{SOCKET_NAME}"]
    cmd += ["--workdir", WORKDIR, "--oom-flag", f"{RUN_DIR}/{OOM_FLAG}"]
    if isolation.jupyter:
        cmd += ["--jupyter"]
    if spec.startup_command:
        cmd += ["--startup-command", spec.startup_command]
    binds = [
        f"{isolation.runner_dir}:{RUNNER_DIR}:ro",
        f"{paths.run_dir}:{RUN_DIR}:rw",
        f"{paths.workdir}:{WORKDIR}:rw",
        *(
            f"{mount.host_path}:{mount.target}:{'ro' if mount.read_only else 'rw'}"
            for mount in spec.mounts
        ),
    ]
    network, naming = isolation.network, {}
    if spec.network is not None:  # a cluster kernel: the namespace the agent prepared for it
        network = f"ns:{spec.network.netns_path}"
        binds.append(f"{spec.network.hosts_file}:/etc/hosts:ro")
        naming = {"Hostname": spec.network.hostname}
    return {
        **naming,
        "Image": spec.image,
        "Entrypoint": [cmd[0]],  # the image's own entrypoint must not wrap the runner
        "Cmd": cmd[1:],
        "User": f"{isolation.uid}:{isolation.gid}",
        "WorkingDir": WORKDIR,
        "Env": [f"{k}={v}" for k, v in _environ(spec).items()],
        "Labels": {
            LABEL_AGENT: agent_id,
            LABEL_KERNEL: spec.kernel_id,
            LABEL_SESSION: spec.session_id,
            LABEL_KERNEL_DIR: str(paths.kernel_dir),
            LABEL_RUN_DIR: str(paths.run_dir),
            LABEL_BATCH: "1" if spec.startup_command else "0",
        },
        "Tty": False,
        "OpenStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "HostConfig": {
            "Binds": binds,
            "Memory": spec.mem_bytes,
            "MemorySwap": spec.mem_bytes,  # equal to Memory: no swap to spill into
            "CpuPeriod": _CPU_PERIOD,
            "CpuQuota": max(1000, int(spec.cpu * _CPU_PERIOD)),
            "PidsLimit": isolation.pids_limit,
            "ShmSize": isolation.shm_bytes,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "NetworkMode": network,
            "Devices": [
                {"PathOnHost": d, "PathInContainer": d, "CgroupPermissions": "rwm"} for d in devices
            ],
            "AutoRemove": False,  # the exit code and OOM flag are read after it ends
            "RestartPolicy": {"Name": "no"},
        },
    }


def _environ(spec: m.KernelSpec) -> dict[str, str]:
    # The user's variables first, ours last: a kernel may not pretend to be another one.
    env = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8", **spec.environ}
    return env | {
        "HOME": WORKDIR,
        "SHIPYARD_KERNEL_ID": spec.kernel_id,
        "SHIPYARD_SESSION_ID": spec.session_id,
    }
