"""An agent in a container publishes the kernel runner on a host path its engine can bind."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from services.agent.adapters.container_config import (
    RUNNER_DIR,
    HostPaths,
    Isolation,
    create_body,
    publish_runner,
)
from services.agent.domain.model import KernelSpec
from services.agent.kernel_runner import RUNNER_SCRIPT

ISOLATION = Isolation(uid=64000, gid=64000, network="none", pids_limit=64, shm_bytes=1 << 20)
PATHS = HostPaths(kernel_dir=Path("/k/k1"), run_dir=Path("/r/k1"))
SPEC = KernelSpec(kernel_id="k1", session_id="s1", image="py", cpu=Decimal(1), mem_bytes=1 << 20)


def _binds(isolation: Isolation) -> list[str]:
    body = create_body(SPEC, agent_id="a1", python="python3", paths=PATHS, isolation=isolation)
    host = body["HostConfig"]
    assert isinstance(host, dict)
    return list(host["Binds"])


def test_by_default_the_engine_binds_the_runner_from_the_agents_code() -> None:
    assert f"{RUNNER_SCRIPT.parent}:{RUNNER_DIR}:ro" in _binds(ISOLATION)


def test_a_published_runner_is_bound_from_its_host_directory_and_runs(tmp_path) -> None:
    published = publish_runner(tmp_path / "runner")
    assert (published / RUNNER_SCRIPT.name).read_bytes() == RUNNER_SCRIPT.read_bytes()
    assert f"{published}:{RUNNER_DIR}:ro" in _binds(
        dataclasses.replace(ISOLATION, runner_dir=published)
    )
    # The copy is the whole program: it runs alone, with nothing of the repository around it.
    result = subprocess.run(
        [sys.executable, "-I", str(published / RUNNER_SCRIPT.name), "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "--socket" in result.stdout


def test_publishing_again_replaces_an_old_runner(tmp_path) -> None:
    (tmp_path / "runner").mkdir()
    (tmp_path / "runner" / RUNNER_SCRIPT.name).write_text("old")
    publish_runner(tmp_path / "runner")
    assert (tmp_path / "runner" / RUNNER_SCRIPT.name).read_bytes() == RUNNER_SCRIPT.read_bytes()
