"""The whole platform, started the way `shipyard up` starts it, once per test session."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cli.client import ShipyardClient
from cli.platform import Platform, PlatformConfig
from tests.conftest import create_database, drop_database
from tests.container_engine import engine_url, ensure_test_images
from tests.e2e.otlp_receiver import Receiver, start_receiver


@pytest.fixture(scope="session")
async def otlp() -> AsyncIterator[Receiver]:
    server, receiver, port = await start_receiver()
    receiver.port = port  # type: ignore[attr-defined]
    yield receiver
    await server.stop(0)


@pytest.fixture(scope="session")
async def platform(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, otlp: Receiver
) -> AsyncIterator[Platform]:
    async with own_platform(tmp_path_factory, redis_url, otlp) as running:
        yield running


@pytest.fixture(scope="module")
async def throwaway_platform(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, otlp: Receiver
) -> AsyncIterator[Platform]:
    """A platform for one module whose tests leave it full (a fuzzing run's sessions and
    folders): the shared one stays clean for the others."""
    async with own_platform(tmp_path_factory, redis_url, otlp) as running:
        yield running


@pytest.fixture(scope="module")
async def fresh_kernels_platform(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, otlp: Receiver
) -> AsyncIterator[Platform]:
    """A platform whose agent pre-starts no kernels: every kernel is started for its session
    (the shared one keeps the default pool, so most tests meet handed-out kernels)."""
    pool = {"KERNEL_POOL_SIZE": "0"}
    async with own_platform(tmp_path_factory, redis_url, otlp, pool) as running:
        yield running


@asynccontextmanager
async def own_platform(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    otlp: Receiver,
    agent_env: dict[str, str] | None = None,
    **config: object,
) -> AsyncIterator[Platform]:
    """A platform of its own (any other PlatformConfig fields in `config`)."""
    # Its own database: other tests' fake agents and sessions must not meet the real scheduler.
    db_name, database_url = await create_database()
    data_dir: Path = tmp_path_factory.mktemp("shipyard")
    config = PlatformConfig.ephemeral(
        data_dir,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"e2e:{secrets.token_hex(4)}:",
        otlp_endpoint=f"127.0.0.1:{otlp.port}",  # type: ignore[attr-defined]
        agent_env={"CPU": "2", "MEM_BYTES": str(4 * 1024**3), **(agent_env or {})},
        **config,
    )
    running = Platform(config)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        await drop_database(db_name)


@pytest.fixture(scope="session")
async def container_platform(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Platform]:
    """The platform with its agent on the container backend (Podman's Docker API here)."""
    url = await engine_url()
    await ensure_test_images()
    db_name, database_url = await create_database()
    config = PlatformConfig.ephemeral(
        tmp_path_factory.mktemp("shipyard-containers"),
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"e2e-c:{secrets.token_hex(4)}:",
        agent_env={
            # Room for a test's sessions even when an earlier test left some running.
            "CPU": "8",
            "MEM_BYTES": str(8 * 1024**3),
            "BACKEND": "container",
            "DOCKER_HOST": url,
            "KERNEL_PIDS_MAX": "256",
        },
    )
    running = Platform(config)
    await running.start()
    yield running
    await running.stop()
    await drop_database(db_name)


@pytest.fixture
async def container_client(container_platform: Platform) -> AsyncIterator[ShipyardClient]:
    assert container_platform.keypair is not None
    async with ShipyardClient(
        container_platform.endpoint,
        container_platform.keypair.access_key,
        container_platform.keypair.secret_key,
    ) as c:
        yield c


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[ShipyardClient]:
    assert platform.keypair is not None
    async with ShipyardClient(
        platform.endpoint, platform.keypair.access_key, platform.keypair.secret_key
    ) as c:
        yield c
