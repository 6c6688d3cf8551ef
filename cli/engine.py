"""Find a Docker-API container engine on this machine, or start Podman's Docker-compatible service.

`shipyard up`, the test set-up (`scripts/container-engine`) and the benchmarks use this one
definition, so that they all agree on which socket kernels' containers go through.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

PODMAN_SOCKET = Path("/run/podman.sock")
# Where engines usually listen, most specific first ($DOCKER_HOST wins over all of them).
CANDIDATES = (Path("/var/run/docker.sock"), Path("/run/podman/podman.sock"), PODMAN_SOCKET)
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
# Raising RLIMIT_NOFILE/NPROC is refused on hosts like ours, and systemd is not the cgroup manager
# when the service runs outside a systemd unit.
CONTAINERS_CONF_TEXT = """\
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
"""
# crun fails on hybrid cgroup hosts; runc works on both v1 and v2. The storage driver is left to
# Podman (overlay where the kernel allows it): naming it differs from what its database recorded.
PODMAN_SERVICE = ("podman", "--runtime", "runc", "system", "service")


# Services this process started; they outlive it on purpose, and are kept referenced so that a
# running child is not reported as leaked when its handle would be collected.
_STARTED: list[subprocess.Popen[bytes]] = []


def socket_url(path: Path) -> str:
    return f"unix://{path}"


async def answers(path: Path, timeout: float = 2.0) -> bool:
    """True when a Docker Engine API answers `GET /_ping` on the unix socket."""
    transport = httpx.AsyncHTTPTransport(uds=str(path))
    try:
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            reply = await client.get("http://engine/_ping")
    except (httpx.HTTPError, OSError):  # no such socket, nobody listening, not an engine
        return False
    return reply.status_code == 200


async def find_engine() -> Path | None:
    """The socket of an engine that answers now, if any."""
    docker_host = os.environ.get("DOCKER_HOST", "")
    paths = [Path(docker_host.removeprefix("unix://"))] if docker_host.startswith("unix://") else []
    for path in (*paths, *CANDIDATES):
        if await answers(path):
            return path
    return None


def write_containers_conf(path: Path = CONTAINERS_CONF) -> bool:
    """Write the engine settings this machine needs, unless an administrator wrote their own."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONTAINERS_CONF_TEXT)
    return True


async def start_podman(
    sock: Path = PODMAN_SOCKET, *, log_path: Path | None = None, timeout: float = 30.0
) -> Path | None:
    """Make Podman's service answer on `sock`; None when Podman is not installed or fails.

    The service is started detached (it outlives the caller, like PostgreSQL does): containers
    of kernels that survive an agent restart need the engine to stay.
    """
    if await answers(sock):
        return sock
    if shutil.which("podman") is None:
        return None
    await asyncio.to_thread(_spawn_podman, sock, log_path)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await answers(sock):
            log.info("started Podman's Docker API service on %s", sock)
            return sock
        await asyncio.sleep(0.1)
    return None


def _spawn_podman(sock: Path, log_path: Path | None) -> None:
    with contextlib.suppress(OSError):
        if write_containers_conf():
            log.info("wrote %s", CONTAINERS_CONF)
    sock.parent.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)  # a stale socket of a service that died
    with log_path.open("ab") if log_path else Path(os.devnull).open("wb") as out:
        service = subprocess.Popen(
            [*PODMAN_SERVICE, "--time=0", socket_url(sock)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            # conmon drops files (e.g. "oom") in its working directory: not in the caller's.
            cwd=sock.parent,
        )
    _STARTED.append(service)


async def choose_backend(requested: str, *, log_path: Path | None = None) -> tuple[str, str]:
    """("container", engine URL) when an engine answers or Podman can be started; else
    ("process", why). `requested` is auto, container (an engine is required) or process."""
    if requested == "process":
        return "process", "asked for"
    found = await find_engine() or await start_podman(log_path=log_path)
    if found is not None:
        return "container", socket_url(found)
    if requested == "container":
        raise RuntimeError("--backend container: neither Docker nor Podman answers here")
    return "process", "no Docker or Podman engine answers"


async def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="container-engine", description=__doc__)
    parser.add_argument("--socket", type=Path, default=PODMAN_SOCKET)
    parser.add_argument("--log", type=Path, default=Path("/var/log/podman-service.log"))
    args = parser.parse_args(argv)
    found = await find_engine() or await start_podman(args.socket, log_path=args.log)
    if found is None:
        print("no container engine: neither Docker nor Podman answers", file=sys.stderr)
        return 1
    print(socket_url(found))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sys.exit(asyncio.run(_main(sys.argv[1:])))
