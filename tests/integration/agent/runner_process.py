"""The kernel runner as a real process on a unix socket, for the tests that drive it directly
(without a sandbox): a short directory for it, starting it, stopping it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.agent.kernel_runner import RUNNER_SCRIPT

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Not tmp_path: unix socket paths must stay under 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="sy-runner-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_runner(base: Path, *extra: str, module: bool = False) -> subprocess.Popen[bytes]:
    """A runner serving on `base`/runner.sock with `base`/work as its work dir."""
    workdir = base / "work"
    workdir.mkdir(exist_ok=True)
    program = ["-m", "services.agent.kernel_runner"] if module else [str(RUNNER_SCRIPT)]
    args = ["--socket", str(base / "runner.sock"), "--workdir", str(workdir), *extra]
    return subprocess.Popen([sys.executable, *program, *args], cwd=REPO if module else workdir)


def stop_runner(proc: subprocess.Popen[bytes], *, gently: bool = False) -> None:
    """SIGKILL, or SIGTERM (`gently`: the runner then stops its apps' process groups too)."""
    if gently:
        proc.terminate()
    else:
        proc.kill()
    proc.wait()
