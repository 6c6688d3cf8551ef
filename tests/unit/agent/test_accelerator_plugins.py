"""The mock plugin's config file and nodes; the cuda plugin on a real GPU where there is one."""

from __future__ import annotations

import json
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from libs.core.errors import FailedPrecondition, InvalidArgument
from services.agent.adapters.accelerator_plugins import select_plugins
from services.agent.adapters.cuda_accelerator import CudaAcceleratorPlugin, read_gpus
from services.agent.adapters.mock_accelerator import MockAcceleratorPlugin
from services.agent.domain.devices import AllocationMode

TOML = """
mode = "shares"
shared_nodes = ["mock-ctl"]
[[devices]]
id = "m0"
memory_bytes = 1024
nodes = ["mock0"]
[[devices]]
id = "m1"
nodes = ["mock1"]
"""


def test_a_toml_config_declares_devices_with_real_nodes(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text(TOML)
    pool = MockAcceleratorPlugin(config, tmp_path / "nodes").detect()
    assert pool.slot == "cuda.shares"
    assert pool.capacity() == {"cuda.shares": Decimal(2)}
    assert [d.device_id for d in pool.devices] == ["m0", "m1"]
    assert pool.devices[0].memory_bytes == 1024
    nodes = [Path(n) for n in pool.nodes()]
    assert [n.name for n in nodes] == ["mock0", "mock1", "mock-ctl"]
    for node in nodes:
        mode = node.lstat().st_mode
        assert stat.S_ISCHR(mode) or stat.S_ISREG(mode)
        assert stat.S_IMODE(mode) == 0o666
    grant = pool.allocate("k1", Decimal("0.5"))
    assert grant.environ["CUDA_VISIBLE_DEVICES"] == "m0"


def test_a_json_config_and_a_second_detection_reuse_the_nodes(tmp_path: Path) -> None:
    config = tmp_path / "mock.json"
    raw = {"devices": [{"id": "a", "nodes": ["n0"]}], "node_dir": str(tmp_path)}
    config.write_text(json.dumps(raw))
    plugin = MockAcceleratorPlugin(config, tmp_path / "unused")
    first = plugin.detect()
    assert first.slot == "cuda.device"
    assert first.nodes() == (str(tmp_path / "n0"),)
    assert plugin.detect().nodes() == first.nodes()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("devices = []", "devices: List should have at least 1 item"),
        ('[[devices]]\nid = "a"\nnodes = ["../../etc/passwd"]', "devices.0.nodes.0"),
        ('mode = "half"\n[[devices]]\nid = "a"\nnodes = ["n"]', "mode"),
        ('[[devices]]\nid = "a"\nnodes = ["n"]\n[[devices]]\nid = "b"\nnodes = ["n"]', "repeat"),
        ("devices = [", "mock.toml"),
    ],
)
def test_a_bad_config_is_refused_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "mock.toml"
    config.write_text(text)
    with pytest.raises(FailedPrecondition, match=message.replace(".", r"\.")):
        MockAcceleratorPlugin(config, tmp_path / "nodes").detect()


def test_a_missing_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match="cannot read"):
        MockAcceleratorPlugin(tmp_path / "absent.toml", tmp_path).detect()


def test_unknown_plugins_and_a_mock_without_config_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unknown accelerator plugin 'rocm'"):
        select_plugins(["rocm"], cuda_mode="device", mock_config=None, device_dir=tmp_path)
    with pytest.raises(InvalidArgument, match="AGENT_MOCK_ACCELERATOR_CONFIG"):
        select_plugins(["mock"], cuda_mode="device", mock_config=None, device_dir=tmp_path)


def _nvml_error() -> str | None:
    try:
        read_gpus()
    except FailedPrecondition as exc:
        return exc.message
    return None


NVML_ERROR = _nvml_error()


@pytest.mark.skipif(NVML_ERROR is not None, reason=f"no NVIDIA GPU on this machine ({NVML_ERROR})")
def test_cuda_plugin_reports_every_gpu_with_its_node() -> None:
    pool = CudaAcceleratorPlugin(AllocationMode.DISCRETE).detect()
    _, gpus = read_gpus()
    assert pool.capacity() == ({"cuda.device": Decimal(len(gpus))} if gpus else {})
    for device in pool.devices:
        assert device.device_id.startswith("GPU-")
        assert device.memory_bytes > 0
        assert all(Path(n).exists() for n in device.nodes)
    if pool.devices:
        grant = pool.allocate("k1", Decimal(1))
        assert grant.environ["CUDA_VISIBLE_DEVICES"] == pool.devices[0].device_id
        assert "/dev/nvidiactl" in grant.devices


def test_cuda_plugin_without_a_driver_says_so() -> None:
    if NVML_ERROR is None:
        pytest.skip("an NVIDIA driver is present here")
    with pytest.raises(FailedPrecondition, match="NVIDIA driver"):
        CudaAcceleratorPlugin().detect()


def test_the_shipped_sample_config_declares_two_gpus(tmp_path: Path) -> None:
    sample = Path(__file__).parents[3] / "services" / "agent" / "mock-accelerators.toml"
    pool = MockAcceleratorPlugin(sample, tmp_path).detect()
    assert pool.capacity() == {"cuda.device": Decimal(2)}
