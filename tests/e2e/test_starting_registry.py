"""`shipyard up --starting-registries 1` against the real services: the first registry serves
and binds, and only the second starts sessions and applies the agents' kernel events
(REGISTRY_START_SESSIONS, docs/scheduler-scale.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from cli.client import ShipyardClient
from cli.platform import Platform
from services.agent.adapters.event_publisher import kernel_stream
from services.registry.app_parts import KERNEL_EVENTS_GROUP
from tests.e2e.conftest import own_platform
from tests.e2e.otlp_receiver import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def split(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, otlp: Receiver
) -> AsyncIterator[Platform]:
    async with own_platform(tmp_path_factory, redis_url, otlp, starting_registries=1) as running:
        yield running


async def test_sessions_run_when_only_the_second_registry_starts_them(split: Platform) -> None:
    assert split.keypair is not None and split.infra is not None
    assert {"registry", "registry-1"} <= set(split.processes)
    async with ShipyardClient(
        split.endpoint, split.keypair.access_key, split.keypair.secret_key
    ) as client:
        sessions = await asyncio.gather(
            *(
                client.create_session(wait=True, resources={"cpu": "0.5", "mem": "268435456"})
                for _ in range(3)
            )
        )
        for session in sessions:
            assert session["status"] == "SESSION_STATUS_RUNNING", session
            result = await client.execute(session["session_id"], "print(6*7)")
            assert result["stdout"] == "42\n", result
            await client.destroy_session(session["session_id"])

    # Only the starting replica joined the kernel-event group: the first one applied none.
    redis = Redis.from_url(split.infra.redis_url)
    try:
        consumers = await redis.xinfo_consumers(
            kernel_stream(split.config.redis_prefix), KERNEL_EVENTS_GROUP
        )
    finally:
        await redis.aclose()
    names = {c["name"].decode() if isinstance(c["name"], bytes) else c["name"] for c in consumers}
    assert names == {f"registry-{split.config.port('registry-1')}"}
    logs = split.config.data_dir / "logs"
    assert "starts no sessions" in (logs / "registry.log").read_text()
    assert "starts no sessions" not in (logs / "registry-1.log").read_text()
