"""The real `shipyard` CLI in a subprocess, as the user of a keypair, against a test platform."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from cli.platform import Platform
from services.auth.domain.model import Keypair

ROOT = Path(__file__).resolve().parents[2]


async def cli_as(
    platform: Platform, keys: Keypair, *args: str, timeout: float = 60.0
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `shipyard <args>` run with the keypair's credentials."""
    env = {
        **os.environ,
        "SHIPYARD_ENDPOINT": platform.endpoint,
        "SHIPYARD_ACCESS_KEY": keys.access_key,
        "SHIPYARD_SECRET_KEY": keys.secret_key,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(timeout):
        out, err = await proc.communicate()
    return int(proc.returncode or 0), out.decode(), err.decode()
