"""The benchmark's own PostgreSQL and Redis, which it may stop and restart at will.

Never the machine's shared servers: both run from the local binaries in the run's data
directory, on free loopback ports. PostgreSQL refuses to run as root, so it runs as the
`postgres` user then (`runuser`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from cli.infra import free_port, port_open


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found under /usr/lib/postgresql")
    return str(found[0])


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {out.decode(errors='replace')}")


@dataclass
class PrivatePostgres:
    """initdb once, then start/stop as often as the benchmark likes (same port every time)."""

    data_dir: Path
    port: int = field(default_factory=free_port)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the run directory above must be open to the postgres user
            shutil.chown(self.data_dir, "postgres")
        self.data_dir.chmod(0o700)
        await _run(
            *_as_postgres(),
            _pg_bin("initdb"),
            *("-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "--no-sync"),
        )

    async def start(self) -> None:
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=off -c max_connections=400"
        )
        await _run(
            *_as_postgres(),
            _pg_bin("pg_ctl"),
            *("-D", str(self.data_dir), "-w", "-l", str(self.data_dir / "postgres.log")),
            *("-o", options, "start"),
        )

    async def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in an outage."""
        await _run(
            *_as_postgres(), _pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"
        )

    async def create_database(self, name: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()


@dataclass
class PrivateRedis:
    """A Redis that keeps nothing on disk: a restart loses every key and stream."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            binary,
            *("--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"),
            *("--dir", str(self.data_dir), "--logfile", str(self.data_dir / "redis.log")),
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            if port_open("127.0.0.1", self.port):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.process = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()
