"""`shipyard up` picks the container backend when an engine answers, starting Podman's if needed."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import engine

pytestmark = pytest.mark.integration


def _pids_serving(sock: Path) -> list[int]:
    """The processes started for this (uniquely named) socket."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if engine.socket_url(sock).encode() in argv:
                found.append(int(entry.name))
    return found


@pytest.fixture
def private_socket() -> Iterator[Path]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    sock = Path(f"/tmp/shipyard-test-{secrets.token_hex(4)}.sock")
    yield sock
    for pid in _pids_serving(sock):
        os.kill(pid, signal.SIGTERM)
    sock.unlink(missing_ok=True)


async def test_podman_service_is_started_when_nothing_answers(
    private_socket: Path, tmp_path: Path
) -> None:
    assert not await engine.answers(private_socket)
    started = await engine.start_podman(private_socket, log_path=tmp_path / "podman.log")
    assert started == private_socket
    assert await engine.answers(private_socket)
    # A second call finds it running instead of starting another service.
    assert await engine.start_podman(private_socket) == private_socket
    assert len(_pids_serving(private_socket)) == 1


async def test_the_backend_follows_the_engine_and_the_request(
    private_socket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await engine.choose_backend("process") == ("process", "asked for")
    assert await engine.start_podman(private_socket) == private_socket
    monkeypatch.setenv("DOCKER_HOST", engine.socket_url(private_socket))
    assert await engine.choose_backend("auto") == ("container", engine.socket_url(private_socket))
    assert await engine.choose_backend("container") == (
        "container",
        engine.socket_url(private_socket),
    )


async def test_a_socket_that_is_no_engine_does_not_count(tmp_path: Path) -> None:
    assert not await engine.answers(tmp_path / "missing.sock")
    assert not await engine.answers(tmp_path)  # a directory, not a socket
