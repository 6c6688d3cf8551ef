"""Pick the accelerator plugins named in the settings and detect their devices."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from libs.core.errors import InvalidArgument
from services.agent.adapters.allocation_ledger import JsonAllocationLedger
from services.agent.adapters.cuda_accelerator import CudaAcceleratorPlugin
from services.agent.adapters.mock_accelerator import MockAcceleratorPlugin
from services.agent.domain.devices import AllocationMode
from services.agent.service.accelerators import Accelerators
from services.agent.service.ports import AcceleratorPlugin

PLUGINS = ("cuda", "mock")


def select_plugins(
    names: Sequence[str], *, cuda_mode: str, mock_config: Path | None, device_dir: Path
) -> list[AcceleratorPlugin]:
    plugins: list[AcceleratorPlugin] = []
    for name in dict.fromkeys(names):
        if name == "cuda":
            plugins.append(CudaAcceleratorPlugin(AllocationMode(cuda_mode)))
        elif name == "mock":
            if mock_config is None:
                raise InvalidArgument(
                    "the mock accelerator needs AGENT_MOCK_ACCELERATOR_CONFIG (a TOML/JSON file)"
                )
            plugins.append(MockAcceleratorPlugin(mock_config, device_dir / "mock"))
        else:
            raise InvalidArgument(
                f"unknown accelerator plugin {name!r} in AGENT_ACCELERATORS "
                f"(known: {', '.join(PLUGINS)})"
            )
    return plugins


async def detect_accelerators(
    plugins: Sequence[AcceleratorPlugin], device_dir: Path
) -> Accelerators:
    """Detection reads drivers and files: off the event loop."""
    pools = [await asyncio.to_thread(p.detect) for p in plugins]
    ledger = JsonAllocationLedger(device_dir / "allocations.json") if plugins else None
    return Accelerators(pools, ledger)
