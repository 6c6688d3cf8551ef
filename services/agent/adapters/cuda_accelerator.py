"""The `cuda` accelerator plugin: NVIDIA GPUs found through NVML (nvidia-ml-py).

A GPU is identified by its UUID (stable across reboots and driver reloads, and accepted by
CUDA_VISIBLE_DEVICES, which index numbers are not once a kernel sees only some devices). Its
node is /dev/nvidia<minor>; /dev/nvidiactl and the UVM nodes are shared by every GPU kernel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pynvml

from libs.core.errors import FailedPrecondition
from services.agent.domain.devices import AllocationMode, Device, DevicePool

log = logging.getLogger(__name__)

SHARED_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools")


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuFacts:
    index: int
    minor: int
    name: str
    uuid: str
    memory_bytes: int


def read_gpus() -> tuple[str, list[GpuFacts]]:
    """The driver version and every GPU NVML sees. Raises FailedPrecondition without a driver."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise FailedPrecondition(
            f"NVML is not usable here (is the NVIDIA driver loaded?): {exc}"
        ) from exc
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append(
                GpuFacts(
                    index=index,
                    minor=int(pynvml.nvmlDeviceGetMinorNumber(handle)),
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                    memory_bytes=int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                )
            )
        return driver, gpus
    except pynvml.NVMLError as exc:
        raise FailedPrecondition(f"reading GPUs through NVML failed: {exc}") from exc
    finally:
        pynvml.nvmlShutdown()


def pool_from(
    gpus: Sequence[GpuFacts], mode: AllocationMode, dev_dir: Path = Path("/dev")
) -> DevicePool:
    devices = [
        Device(
            device_id=g.uuid,
            name=g.name,
            memory_bytes=g.memory_bytes,
            nodes=(str(dev_dir / f"nvidia{g.minor}"),),
        )
        for g in sorted(gpus, key=lambda g: g.index)
    ]
    shared = [str(dev_dir / n) for n in SHARED_NODES if (dev_dir / n).exists()]
    return DevicePool(
        family="cuda",
        mode=mode,
        devices=devices,
        shared_nodes=shared,
        visible_env="CUDA_VISIBLE_DEVICES",
    )


class CudaAcceleratorPlugin:
    name = "cuda"

    def __init__(self, mode: AllocationMode = AllocationMode.DISCRETE) -> None:
        self._mode = mode

    def detect(self) -> DevicePool:
        driver, gpus = read_gpus()
        for g in gpus:
            log.info("GPU %d: %s, %d MiB, %s", g.index, g.name, g.memory_bytes >> 20, g.uuid)
        log.info("cuda: %d GPUs (driver %s)", len(gpus), driver)
        return pool_from(gpus, self._mode)


def _text(value: str | bytes) -> str:
    # Older bindings return bytes.
    return value.decode() if isinstance(value, bytes) else value
