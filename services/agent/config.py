"""Agent settings, from AGENT_* environment variables."""

from __future__ import annotations

import ipaddress
import socket
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from libs.core.config import RedisMixin, ServiceSettings
from services.agent.adapters.sandbox import SandboxSettings


class Settings(ServiceSettings, RedisMixin):
    model_config = SettingsConfigDict(env_prefix="AGENT_", frozen=True, extra="ignore")

    bind: str = "127.0.0.1:50060"
    # host:port the registry and peers use to reach us; default: `bind` with the bound port.
    advertised_addr: str | None = None
    # Stable id (rule R-STABLE-NAMES); default: the hostname.
    agent_id: str = ""
    resource_group: str = "default"
    # CPU architecture reported to the registry (Go/OCI spelling); detected when unset.
    architecture: str = ""
    registry_addr: str = "127.0.0.1:50052"
    redis_prefix: str = "shipyard:"
    # Kernel apps (docs/apps.md): the address their per-app listeners bind (the edge connects
    # there), and apps offered besides the built-in `echo`, as JSON {"name": "shell command"};
    # the command must serve HTTP on 127.0.0.1:$PORT inside the kernel.
    app_host: str = "127.0.0.1"
    app_commands: dict[str, str] = Field(default_factory=dict)
    backend: Literal["process", "container"] = "process"
    # Process backend: the /24 (or any IPv4 network) this agent's cluster kernels get addresses
    # from; empty picks one of 10.208.0.0/12 by the agent id (docs/cluster-sessions.md).
    cluster_cidr: str = ""
    # Container backend: the engine's Docker API URL (unix:///run/podman.sock, ...); empty: the
    # client's own search ($DOCKER_HOST, then the usual socket paths).
    docker_host: str = ""
    # Container backend: the network kernels get, always a namespace of their own: "none" (only a
    # loopback, as in the process backend's sandbox; the fastest to start) or an engine network
    # such as "bridge" for outbound access. "host" is refused.
    container_network: str = "none"
    # Container backend on an engine network: more control-plane addresses (CIDRs,
    # comma-separated) its kernels must not reach, besides this host's own and the hosts of
    # REGISTRY_ADDR, REDIS_URL and OTLP_ENDPOINT (docs/kernel-isolation.md).
    control_plane_cidrs: str = ""
    # Container backend: where the engine finds the kernel runner; set, the agent copies its
    # runner there at start (an agent in a container: a host path mounted at the same path).
    runner_host_dir: Path | None = None
    # Container backend: /dev/shm size of each kernel (its pids bound is kernel_pids_max).
    shm_bytes: int = Field(default=64 << 20, gt=0)
    # Container backend: on stop, leave kernels running for the next run to adopt (an upgrade)
    # instead of destroying them (the default, so that `shipyard up` leaves nothing behind).
    keep_kernels_on_stop: bool = False
    # Where the process backend keeps kernel work dirs; default ./.shipyard/kernels/<agent_id>.
    kernel_root: Path | None = None
    # Kernels run as this uid/gid: the process backend's sandbox (docs/kernel-isolation.md; an
    # agent not running as root runs them as its own user instead) and the container backend.
    kernel_uid: int = Field(default=64000, gt=0)
    kernel_gid: int = Field(default=64000, gt=0)
    # A python3 the kernel runner runs under, inside the sandbox's read-only /usr.
    kernel_python: str = "/usr/bin/python3"
    # Query mode on a Jupyter kernel when the kernel has one (docs/execution.md); off: the
    # runner's own interpreter runs query code.
    jupyter: bool = True
    # Size bounds (bytes) of each kernel's /home/work and /tmp (tmpfs), its runner log, and its
    # number of processes and threads (cgroup pids.max; the container's PidsLimit).
    kernel_workdir_bytes: int = Field(default=1 << 30, gt=0)
    kernel_tmp_bytes: int = Field(default=256 << 20, gt=0)
    kernel_log_bytes: int = Field(default=4 << 20, gt=0)
    kernel_pids_max: int = Field(default=512, gt=0)
    # Process backend: kernels kept pre-started for sessions whose sandbox they match (0: none;
    # docs/performance.md, "Pre-started kernels").
    kernel_pool_size: int = Field(default=4, ge=0)
    # Override detected capacity (cores, bytes).
    cpu: Decimal | None = None
    mem_bytes: int | None = None
    # Seconds. The interval applies when the registry does not set one.
    heartbeat_interval: float = 10.0
    # Deadline of one RegisterAgent/Heartbeat call.
    heartbeat_timeout: float = 10.0
    # Ceiling of the retry backoff while the registry is unreachable.
    register_backoff_max: float = 30.0
    # Execute timeout when a request sets none; 0 means no limit beyond the caller's deadline.
    exec_timeout: float = 0.0
    # At shutdown: how long to wait for kernels to end and their events to go out.
    shutdown_timeout: float = 15.0
    # On SIGTERM: how long in-flight kernel starts may take before the agent stops anyway.
    drain_timeout: float = Field(default=30.0, gt=0)
    # Kernels starting at once; the rest queue in arrival order. 0: the number of CPU cores.
    max_concurrent_starts: int = Field(default=0, ge=0)
    # Seconds between health checks (cgroups, sandbox or engine, disk), sent with heartbeats.
    health_interval: float = Field(default=10.0, gt=0)
    # Below this much free space in the kernel root's file system the agent reports unhealthy.
    min_free_disk_bytes: int = Field(default=256 << 20, ge=0)
    # Accelerator plugins to load, comma-separated: "cuda", "mock" (README: accelerators).
    accelerators: str = ""
    # cuda: whole GPUs ("device": slot cuda.device) or fractions ("shares": slot cuda.shares).
    cuda_mode: Literal["device", "shares"] = "device"
    # mock: the file declaring its fake devices (TOML, or JSON by its .json suffix).
    mock_accelerator_config: Path | None = None
    # Mock device nodes and the allocation map; default <kernel_root>.devices.
    device_dir: Path | None = None

    @field_validator("container_network")
    @classmethod
    def _own_network(cls, value: str) -> str:
        # The host's (or another container's) network would open loopback services to kernels.
        if value == "host" or value.startswith(("container:", "ns:")):
            raise ValueError(f"kernels need a network of their own, not {value!r}")
        return value

    @field_validator("control_plane_cidrs")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for cidr in (c.strip() for c in value.split(",")):
            if cidr:
                ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad entry
        return value

    def resolved_agent_id(self) -> str:
        return self.agent_id or socket.gethostname()

    def sandbox(self) -> SandboxSettings:
        return SandboxSettings(
            uid=self.kernel_uid,
            gid=self.kernel_gid,
            workdir_bytes=self.kernel_workdir_bytes,
            tmp_bytes=self.kernel_tmp_bytes,
        )

    def resolved_kernel_root(self, agent_id: str) -> Path:
        return self.kernel_root or Path(".shipyard") / "kernels" / agent_id

    def resolved_device_dir(self, agent_id: str) -> Path:
        # Beside the kernel root, never in it: leftover kernel directories there get reaped.
        root = self.resolved_kernel_root(agent_id)
        return self.device_dir or root.parent / f"{root.name}.devices"

    def accelerator_names(self) -> list[str]:
        return [n.strip() for n in self.accelerators.split(",") if n.strip()]
