"""The `mock` accelerator plugin: devices declared in a file, with real (harmless) device nodes.

So detection -> slots -> scheduling -> allocation -> release runs on machines without GPUs.
Each declared node is created under `node_dir` as a character device with /dev/null's numbers
when the agent may (root, CAP_MKNOD), else as an empty file; either way a kernel can be checked
to see only the nodes it was granted. Format (TOML, or the same keys as JSON):

    family = "cuda"            # slot prefix; the slot is "<family>.<mode>"
    mode = "device"            # or "shares" (fractional)
    node_dir = "/var/lib/x"    # optional; default: the agent's device directory
    shared_nodes = ["mock-nvidiactl"]
    [[devices]]
    id = "mock-gpu-0"
    name = "Mock GPU"
    memory_bytes = 17179869184
    nodes = ["mock-nvidia0"]
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.core.errors import FailedPrecondition
from services.agent.domain.devices import AllocationMode, Device, DevicePool

log = logging.getLogger(__name__)

# Plain file names: no node path can escape node_dir.
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
NodeName = Annotated[str, Field(pattern=_NAME)]
_NULL_DEVICE = os.makedev(1, 3)


class MockDevice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_NAME)
    name: str = "Mock GPU"
    memory_bytes: int = Field(default=16 * 1024**3, gt=0)
    nodes: list[NodeName] = Field(min_length=1)


class MockConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str = Field(default="cuda", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    mode: AllocationMode = AllocationMode.DISCRETE
    node_dir: Path | None = None
    shared_nodes: list[NodeName] = []
    devices: list[MockDevice] = Field(min_length=1)


def load_config(path: Path) -> MockConfig:
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        return MockConfig.model_validate(raw)
    except OSError as exc:
        raise FailedPrecondition(f"cannot read the mock accelerator config {path}: {exc}") from exc
    except (ValueError, tomllib.TOMLDecodeError) as exc:  # ValidationError is a ValueError
        detail = _describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise FailedPrecondition(f"mock accelerator config {path}: {detail}") from exc


class MockAcceleratorPlugin:
    name = "mock"

    def __init__(self, config_path: Path, default_node_dir: Path) -> None:
        self._path = config_path
        self._default_node_dir = default_node_dir

    def detect(self) -> DevicePool:
        config = load_config(self._path)
        node_dir = (config.node_dir or self._default_node_dir).resolve()
        names = [n for d in config.devices for n in d.nodes] + list(config.shared_nodes)
        if len(set(names)) != len(names):
            raise FailedPrecondition(f"mock accelerator config {self._path}: node names repeat")
        node_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            _make_node(node_dir / name)
        devices = [
            Device(
                device_id=d.id,
                name=d.name,
                memory_bytes=d.memory_bytes,
                nodes=tuple(str(node_dir / n) for n in d.nodes),
            )
            for d in config.devices
        ]
        log.info(
            "mock accelerator: %d %s devices, nodes in %s", len(devices), config.family, node_dir
        )
        return DevicePool(
            family=config.family,
            mode=config.mode,
            devices=devices,
            shared_nodes=[str(node_dir / n) for n in config.shared_nodes],
            visible_env=f"{config.family.upper()}_VISIBLE_DEVICES",
        )


def _make_node(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISREG(mode)):
        return
    if mode is not None:
        raise FailedPrecondition(f"{path} exists and is not a device node or a file")
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, _NULL_DEVICE)
        path.chmod(0o666)  # mknod applies the umask
    except PermissionError:
        path.touch(mode=0o666)


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"
