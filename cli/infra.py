"""PostgreSQL and Redis for `shipyard up`: given DSNs, else the local servers, else private ones.

Private instances are started from the local `postgres`/`redis-server` binaries in a data
directory of ours, on free loopback ports, and stopped with the platform.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket()) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


@dataclass
class Infra:
    database_url: str  # postgresql+asyncpg://…/shipyard
    redis_url: str
    owned: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pg_stop: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.pg_stop:
            subprocess.run(self.pg_stop, capture_output=True, check=False)
        for proc in self.owned:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


async def prepare(
    data_dir: Path, database_url: str | None, redis_url: str | None, database: str = "shipyard"
) -> Infra:
    infra = Infra(database_url="", redis_url="")
    if database_url is None:
        admin = LOCAL_PG if port_open("127.0.0.1", 5432) else _start_postgres(data_dir, infra)
        await _ensure_database(admin, database)
        database_url = admin.rsplit("/", 1)[0] + f"/{database}"
    if redis_url is None:
        redis_url = LOCAL_REDIS if port_open("127.0.0.1", 6379) else _start_redis(data_dir, infra)
    infra.database_url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    infra.redis_url = redis_url
    return infra


async def _ensure_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _pg_bin(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    found = shutil.which(name) or (str(candidates[0]) if candidates else None)
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL or pass --database-url")
    return found


def _start_postgres(data_dir: Path, infra: Infra) -> str:
    pg_data = data_dir / "postgres"
    port = free_port()
    as_user = _unprivileged_prefix(data_dir)
    if not (pg_data / "PG_VERSION").exists():
        pg_data.mkdir(parents=True, exist_ok=True)
        if as_user:
            shutil.chown(pg_data, "postgres")
        subprocess.run(
            [*as_user, _pg_bin("initdb"), "-D", str(pg_data), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
        )
    subprocess.run(
        [
            *as_user,
            _pg_bin("pg_ctl"),
            "-D",
            str(pg_data),
            "-w",
            "-l",
            str(pg_data / "postgres.log"),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {pg_data}",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    infra.pg_stop = [*as_user, _pg_bin("pg_ctl"), "-D", str(pg_data), "-m", "fast", "stop"]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def _unprivileged_prefix(data_dir: Path) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError(
            "running as root without a `postgres` user: pass --database-url"
        ) from exc
    data_dir.chmod(0o755)
    for parent in data_dir.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            raise RuntimeError(
                f"{parent} is private to root, so the postgres user cannot reach {data_dir}: "
                "use another --data-dir or pass --database-url"
            )
    return ["runuser", "-u", "postgres", "--"]


def _start_redis(data_dir: Path, infra: Infra) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: install Redis or pass --redis-url")
    port = free_port()
    (data_dir / "redis").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir / "redis"),
        ],
        stdout=subprocess.DEVNULL,
    )
    infra.owned.append(proc)
    for _ in range(50):
        if port_open("127.0.0.1", port):
            break
        time.sleep(0.1)
    return f"redis://127.0.0.1:{port}/0"
