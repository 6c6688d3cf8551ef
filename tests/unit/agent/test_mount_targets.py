"""Mounts with a kernel path: both backends bind there, and a path outside the work directory
never reaches a backend."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from libs.core.errors import FailedPrecondition, InvalidArgument
from services.agent.adapters.container_config import HostPaths, Isolation, create_body
from services.agent.adapters.kernel_spec_checks import check_spec
from services.agent.domain.model import KernelSpec, Mount

ISOLATION = Isolation(uid=64000, gid=64000, network="none", pids_limit=64, shm_bytes=1 << 20)
PATHS = HostPaths(kernel_dir=Path("/k/k1"), run_dir=Path("/r/k1"))
SPEC = KernelSpec(kernel_id="k1", session_id="s1", image="py", cpu=Decimal(1), mem_bytes=1 << 20)


def test_a_container_binds_each_mount_at_its_kernel_path() -> None:
    mounts = (
        Mount(host_path="/v/data/sub", name="data", kernel_path="/home/work/x", read_only=True),
        Mount(host_path="/v/data", name="data"),
    )
    body = create_body(
        dataclasses.replace(SPEC, mounts=mounts),
        agent_id="a1",
        python="python3",
        paths=PATHS,
        isolation=ISOLATION,
    )
    host = body["HostConfig"]
    assert isinstance(host, dict)
    assert "/v/data/sub:/home/work/x:ro" in host["Binds"]
    assert "/v/data:/home/work/data:rw" in host["Binds"]


@pytest.mark.parametrize(
    "path", ["/etc", "/home/work", "/home/workx/a", "/home/work/../etc", "/home/work//a", "x"]
)
def test_a_kernel_path_outside_the_work_directory_is_refused(tmp_path: Path, path: str) -> None:
    mount = Mount(host_path=str(tmp_path), name="data", kernel_path=path)
    with pytest.raises(InvalidArgument):
        check_spec(dataclasses.replace(SPEC, mounts=(mount,)))


def test_a_kernel_path_below_the_work_directory_passes(tmp_path: Path) -> None:
    mount = Mount(host_path=str(tmp_path), name="data", kernel_path="/home/work/in/raw")
    check_spec(dataclasses.replace(SPEC, mounts=(mount,)))


def test_a_host_path_through_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "sub").symlink_to("/etc")
    mount = Mount(host_path=str(tmp_path / "folder" / "sub"), name="data")
    with pytest.raises(FailedPrecondition):
        check_spec(dataclasses.replace(SPEC, mounts=(mount,)))
