"""Agent settings, from AGENT_* environment variables."""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic_settings import SettingsConfigDict

from libs.core.config import RedisMixin, ServiceSettings


class Settings(ServiceSettings, RedisMixin):
    model_config = SettingsConfigDict(env_prefix="AGENT_", frozen=True, extra="ignore")

    bind: str = "127.0.0.1:50060"
    # host:port the registry and peers use to reach us; default: `bind` with the bound port.
    advertised_addr: str | None = None
    # Stable id (lesson 31); default: the hostname.
    agent_id: str = ""
    resource_group: str = "default"
    registry_addr: str = "127.0.0.1:50052"
    redis_prefix: str = "shipyard:"
    backend: Literal["process"] = "process"
    # Where the process backend keeps kernel work dirs; default ./.shipyard/kernels/<agent_id>.
    kernel_root: Path | None = None
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
    # Accelerator plugins to load, comma-separated: "cuda", "mock" (README: accelerators).
    accelerators: str = ""
    # cuda: whole GPUs ("device": slot cuda.device) or fractions ("shares": slot cuda.shares).
    cuda_mode: Literal["device", "shares"] = "device"
    # mock: the file declaring its fake devices (TOML, or JSON by its .json suffix).
    mock_accelerator_config: Path | None = None
    # Mock device nodes and the allocation map; default <kernel_root>.devices.
    device_dir: Path | None = None

    def resolved_agent_id(self) -> str:
        return self.agent_id or socket.gethostname()

    def resolved_kernel_root(self, agent_id: str) -> Path:
        return self.kernel_root or Path(".shipyard") / "kernels" / agent_id

    def resolved_device_dir(self, agent_id: str) -> Path:
        # Beside the kernel root, never in it: leftover kernel directories there get reaped.
        root = self.resolved_kernel_root(agent_id)
        return self.device_dir or root.parent / f"{root.name}.devices"

    def accelerator_names(self) -> list[str]:
        return [n.strip() for n in self.accelerators.split(",") if n.strip()]
