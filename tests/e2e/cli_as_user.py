"""The real `shipyard` CLI in a subprocess, as the user of a keypair, against a test platform.

Every e2e test that drives the CLI goes through here: `cli_ok` / `cli_as` for a command and its
output, `cli_env` + `CLI` for a test that wires the CLI's terminal or pipes itself."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Protocol

from cli.platform import Platform

ROOT = Path(__file__).resolve().parents[2]
CLI = (sys.executable, "-m", "cli")


class Keys(Protocol):
    @property
    def access_key(self) -> str: ...
    @property
    def secret_key(self) -> str: ...


def cli_env(platform: Platform, access_key: str, secret_key: str) -> dict[str, str]:
    """The environment that points the CLI at the platform with these credentials."""
    return {
        **os.environ,
        "SHIPYARD_ENDPOINT": platform.endpoint,
        "SHIPYARD_ACCESS_KEY": access_key,
        "SHIPYARD_SECRET_KEY": secret_key,
    }


async def cli_as(
    platform: Platform, keys: Keys | None, *args: str, stdin: str = "", timeout: float = 60.0
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `shipyard <args>` run with the keypair's credentials."""
    assert keys is not None
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=cli_env(platform, keys.access_key, keys.secret_key), cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(timeout):
        out, err = await proc.communicate(stdin.encode())
    return int(proc.returncode or 0), out.decode(), err.decode()


async def cli_ok(
    platform: Platform, keys: Keys | None, *args: str, stdin: str = "", timeout: float = 120.0
) -> str:
    """The output of a CLI command that must succeed (its stderr is the failure message)."""
    code, out, err = await cli_as(platform, keys, *args, stdin=stdin, timeout=timeout)
    assert code == 0, f"shipyard {' '.join(args)} exited {code}: {err}"
    return out
