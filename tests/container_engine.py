"""The real container engine and test images the container tests run on (Podman here).

When Podman is installed its service is started if needed and the images are built once
(`scripts/build-test-images`); only a machine without any engine skips, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cli.engine import find_engine, socket_url, start_podman
from cli.infra import free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON_IMAGE = "localhost/shipyard/python:3.11"
BUSYBOX_IMAGE = "localhost/shipyard/busybox:1"
JUPYTER_IMAGE = "localhost/shipyard/python-jupyter:3.11"  # PYTHON_IMAGE plus ipykernel
CERTS_D = Path("/etc/containers/certs.d")


async def engine_url() -> str:
    """The engine's Docker API URL; skips only where neither Docker nor Podman exists."""
    found = await find_engine()
    if found is None and shutil.which("podman") is None:
        pytest.skip("no container engine on this machine (neither Docker nor Podman)")
    found = found or await start_podman(log_path=Path("/tmp/shipyard-podman-service.log"))
    assert found is not None, "podman is installed but its Docker API service did not start"
    return socket_url(found)


async def ensure_test_images() -> None:
    if shutil.which("podman") is None:
        return  # a Docker-only machine must provide the images itself
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "build-test-images"), stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, f"building the test images failed: {err.decode()[-2000:]}"


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, f"{argv[0]} failed: {err.decode()[-2000:]}"


@contextlib.asynccontextmanager
async def tls_registry(tmp: Path) -> AsyncIterator[str]:
    """A real Docker Registry v2 (Debian's docker-registry) on 127.0.0.1 with a self-signed
    certificate the engine trusts through certs.d (read at every pull, unlike registries.conf);
    yields its host:port."""
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (scripts/system-packages)")
    port = free_port()
    host = f"127.0.0.1:{port}"
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    await _run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1",
    )  # fmt: skip
    config = tmp / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n"
        f"http:\n  addr: {host}\n  tls:\n    certificate: {cert}\n    key: {key}\n"
    )
    trust = CERTS_D / host
    trust.mkdir(parents=True, exist_ok=True)
    shutil.copy(cert, trust / "ca.crt")
    server = await asyncio.create_subprocess_exec(
        "docker-registry", "serve", str(config),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(verify=str(cert)) as client, asyncio.timeout(15):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"https://{host}/v2/")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield host
    finally:
        server.terminate()
        await server.wait()
        shutil.rmtree(trust, ignore_errors=True)


async def push(image: str, target: str) -> None:
    await _run("podman", "push", "-q", image, target)


async def remove_image(image: str) -> None:
    await _run("podman", "rmi", "-f", image)
