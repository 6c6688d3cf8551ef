"""A platform of a benchmark's own: a temporary data directory, a fresh database on the local
PostgreSQL and a fresh Redis key prefix, all gone once the benchmark ends (the database too,
so repeated runs leave nothing behind)."""

from __future__ import annotations

import contextlib
import logging
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from cli.client import ShipyardClient
from cli.platform import Platform, PlatformConfig
from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, Role, caller_to_headers

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def bench_platform(
    prefix: str = "shipyard_bench", parent: str | None = None, **config: Any
) -> AsyncIterator[Platform]:
    """A started platform (`config`: PlatformConfig.ephemeral's options) whose data directory is
    made under `parent` (default: the system's temporary directory); stopped and its database
    dropped on the way out."""
    database = f"{prefix}_{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(dir=parent) as tmp:
        config.setdefault("redis_prefix", f"bench:{secrets.token_hex(3)}:")
        platform = Platform(PlatformConfig.ephemeral(Path(tmp), database=database, **config))
        try:
            await platform.start()
            yield platform
        finally:
            await platform.stop()
            if platform.infra is not None and config.get("database_url") is None:
                await _drop(platform.infra.database_url, database)  # only the one it created


def superadmin_headers(platform: Platform, identity: dict[str, Any]) -> list[tuple[str, str]]:
    """What the edge adds to a call of the superadmin (`identity`: their `whoami`), for calls
    straight to a service: the identity headers and the internal token."""
    caller = Caller(
        user_id=str(identity.get("user_id", "")),
        access_key=platform.keypair.access_key if platform.keypair else "",
        role=Role.SUPERADMIN,
        domain_name=str(identity.get("domain_name", "")),
    )
    headers = [(k, v) for k, v in caller_to_headers(caller).items() if v]
    headers.append((HEADER_INTERNAL_TOKEN, platform.internal_token))
    return headers


def superadmin_client(platform: Platform) -> ShipyardClient:
    """A client of the started platform with the superadmin keypair it made (`async with` it)."""
    assert platform.keypair is not None, "the platform is not started"
    keys = platform.keypair
    return ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key)


async def _drop(database_url: str, database: str) -> None:
    admin_url = database_url.replace("+asyncpg", "").rsplit("/", 1)[0] + "/postgres"
    try:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("could not drop the benchmark's database %s: %r", database, exc)
