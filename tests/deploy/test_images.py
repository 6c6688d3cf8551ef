"""A service image built by scripts/images starts as its non-root user and its health check
(the gRPC health endpoint, through the image's probe command) turns healthy; the migration
job's command upgrades a database and exits."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import asyncpg
import pytest

from cli.infra import free_port
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
# The first run on a machine builds the bases and wheels (minutes); later runs reuse them.
pytestmark = pytest.mark.timeout(1200)
IMAGE = "localhost/shipyard/scheduler:dev"  # the lightest service: it needs Redis only
REGISTRY_IMAGE = "localhost/shipyard/registry:dev"


def _engine() -> str:
    engine = shutil.which("podman") or shutil.which("docker")
    if engine is None:
        pytest.skip("no container engine (neither podman nor docker) to build images with")
    return engine


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    if check:
        assert result.returncode == 0, f"{argv[:3]}: {result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def image() -> str:
    engine = _engine()
    _run(str(ROOT / "scripts" / "images"), "scheduler")
    return engine


def _health(engine: str, container: str) -> str:
    if Path(engine).name == "podman":  # no systemd timers here: run the check ourselves
        _run(engine, "healthcheck", "run", container, check=False)
    state = json.loads(_run(engine, "inspect", container).stdout)[0]["State"]
    return str((state.get("Health") or state.get("Healthcheck") or {}).get("Status", ""))


def test_the_image_runs_as_a_user_and_turns_healthy(image: str) -> None:
    engine = image
    config = json.loads(_run(engine, "image", "inspect", IMAGE).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    port = free_port()
    name = f"shipyard-image-test-{secrets.token_hex(3)}"
    redis_url = os.environ.get("SHIPYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    _run(
        # Read-only, as the Kubernetes manifests run it.
        engine, "run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "-e", f"SCHEDULER_BIND=127.0.0.1:{port}",
        "-e", f"SCHEDULER_REDIS_URL={redis_url}",
        "-e", f"SCHEDULER_REDIS_PREFIX=image-test:{secrets.token_hex(3)}:",
        "-e", "SCHEDULER_INTERNAL_TOKEN=image-test-token",
        "-e", "SCHEDULER_REGISTRY_ADDR=127.0.0.1:1",
        IMAGE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        status = _health(engine, name)
        while status != "healthy" and time.monotonic() < deadline:
            time.sleep(1)
            status = _health(engine, name)
        logs = _run(engine, "logs", name, check=False)
        assert status == "healthy", logs.stdout[-2000:] + logs.stderr[-2000:]
        assert _run(engine, "exec", name, "id", "-u").stdout.strip() == "10001"
        # The same probe against an address nobody serves says why it is unhealthy.
        wrong = _run(
            engine, "exec", "-e", "SCHEDULER_BIND=127.0.0.1:1", name,
            "python", "-m", "libs.grpcutil.health_probe", "scheduler",
            check=False,
        )  # fmt: skip
        assert wrong.returncode == 1 and "unhealthy: 127.0.0.1:1" in wrong.stderr
    finally:
        _run(engine, "rm", "-f", "-t", "5", name, check=False)


async def _registry_schema(url: str) -> tuple[list[str], str | None]:
    """The registry schema's tables and its Alembic revision."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'registry'"
        )
        tables = sorted(r["table_name"] for r in rows)
        revision = None
        if "alembic_version" in tables:
            revision = await conn.fetchval("SELECT version_num FROM registry.alembic_version")
        return tables, revision
    finally:
        await conn.close()


async def test_the_migration_jobs_command_upgrades_a_fresh_database_once(image: str) -> None:
    engine = image
    _run(str(ROOT / "scripts" / "images"), "registry")
    name, url = await create_database()
    try:
        env = ["-e", f"REGISTRY_DATABASE_URL={url}", "-e", "REGISTRY_INTERNAL_TOKEN=t"]
        argv = [engine, "run", "--rm", "--network", "host", *env, REGISTRY_IMAGE, "migrate"]
        _run(*argv)
        first = await _registry_schema(url)
        assert len(first[0]) > 5 and first[1] is not None  # the chain ran, and the command exited
        _run(*argv)
        assert await _registry_schema(url) == first  # at head already: nothing changed
    finally:
        await drop_database(name)
