"""Debian's docker-registry (distribution 2.8) on 127.0.0.1:<free port>, for one test module."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""
TOKEN_AUTH = """auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {cert}
"""
AUTH = """auth:
  htpasswd:
    realm: shipyard-test
    path: {path}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RegistryServer:
    host: str  # 127.0.0.1:<port>, also the registry's name in Shipyard
    process: subprocess.Popen[bytes]
    log: BinaryIO

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd entry (the only format the registry accepts), via libcrypt."""
    import crypt  # deprecated in 3.11, still the stdlib's way to reach libcrypt's bcrypt

    return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"


def start_registry(
    workdir: Path,
    timeout: float = 20.0,
    *,
    users: dict[str, str] | None = None,
    token_auth: str = "",
) -> RegistryServer:
    """With `users`, the registry asks for HTTP basic authentication (htpasswd); with
    `token_auth` (the auth: section), for bearer tokens from a token service."""
    port = free_port()
    config = workdir / "registry.yml"
    text = CONFIG.format(root=workdir / "storage", port=port)
    if users:
        path = workdir / "htpasswd"
        path.write_text("".join(htpasswd_line(u, p) for u, p in users.items()))
        text += AUTH.format(path=path)
    text += token_auth
    config.write_text(text)
    log = (workdir / "registry.log").open("wb")
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    server = RegistryServer(f"127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited; see {workdir / 'registry.log'}")
        try:
            with urllib.request.urlopen(f"{server.url}/v2/", timeout=1) as reply:
                if reply.status == 200:
                    return server
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and (users or token_auth):
                return server
            time.sleep(0.05)
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError("docker-registry did not answer in time")
