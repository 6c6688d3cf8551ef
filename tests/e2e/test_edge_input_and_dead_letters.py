"""Through the edge against the real services: input that PostgreSQL would refuse gets a 400
naming the field, a short fuzzing run gets no 5xx, and superadmins replay dead letters."""

from __future__ import annotations

import argparse
import secrets
from typing import Any

import pytest
from redis.asyncio import Redis

from bench.fuzz_cases import OPENAPI
from bench.fuzz_edge import run
from cli.admin_events import dlq_list, dlq_replay
from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from libs.events.dead_letters import DeadLetterQueue
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e

DLQ = "/v1/admin/events/dead-letters"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"image": "python:3.11\u0000"}, "image"),
        (
            {"startup_command": "exit 0\u0000", "session_type": "SESSION_TYPE_BATCH"},
            "startup_command",
        ),
        ({"client_token": "tok\u0000"}, "client_token"),
        ({"resource_group": "default\u0000"}, "resource_group"),
        ({"project_id": "p" * 70}, "project_id"),
        ({"environ": {"BIG": "x" * 10_000}}, "environ"),
    ],
)
async def test_session_input_postgresql_would_refuse_gets_400_naming_the_field(
    client: ShipyardClient, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await client.request("POST", "/v1/sessions", body=body)
    assert refused.value.status == 400, refused.value.body
    assert field in str(refused.value.body)


async def test_vfolder_input_postgresql_would_refuse_gets_400(client: ShipyardClient) -> None:
    for body, field in (
        ({"name": "data", "volume": "local\u0000"}, "volume"),
        ({"name": "data", "project_id": "p" * 70}, "project_id"),
    ):
        with pytest.raises(ApiError) as refused:
            await client.request("POST", "/v1/vfolders", body=body)
        assert refused.value.status == 400 and field in str(refused.value.body)


async def test_a_short_fuzzing_run_gets_no_5xx_and_leaves_the_platform_working(
    throwaway_platform: Platform,
) -> None:
    platform = throwaway_platform  # the fuzzer's sessions and folders stay out of other tests
    if not OPENAPI.exists():
        pytest.fail("build/openapi.json is missing: run .venv/bin/python scripts/openapi.py")
    assert platform.keypair is not None
    user = await ordinary_user(platform)
    keys = [(platform.keypair.access_key, platform.keypair.secret_key)]
    keys.append((user.access_key, user.secret_key))
    report, problems = await run(platform.endpoint, keys, 300, seed=7, concurrency=4)
    assert report.sent == 300
    assert report.server_errors == 0, report.failures
    assert problems == []
    assert all(p.returncode is None for p in platform.processes.values())


async def _park(platform: Platform, event_id: str) -> str:
    prefix = platform.config.redis_prefix
    redis = Redis.from_url(platform.infra.redis_url if platform.infra else "")
    try:
        queue = DeadLetterQueue(redis, f"{prefix}events:kernel", "registry")
        await queue.park(event_id, b"\x00not-an-event", "1-0", "DecodeError: bad", 10)
        [letter] = [d for d in await queue.entries(count=1000) if d.event_id == event_id]
        return f"kernel-events/{letter.entry_id}"
    finally:
        await redis.aclose()


async def test_only_superadmins_see_and_replay_dead_letters(
    platform: Platform, client: ShipyardClient
) -> None:
    event_id = f"poison-{secrets.token_hex(4)}"
    dead_letter_id = await _park(platform, event_id)
    user_keys = await ordinary_user(platform)
    async with ShipyardClient(
        platform.endpoint, user_keys.access_key, user_keys.secret_key
    ) as user:
        for method, path, body in (("GET", DLQ, None), ("POST", f"{DLQ}:replay", {"all": True})):
            with pytest.raises(ApiError) as refused:
                await user.request(method, path, body=body)
            assert refused.value.status == 403

    listed = await dlq_list(argparse.Namespace(), client)
    [mine] = [d for d in listed if d["event_id"] == event_id]
    assert mine["dead_letter_id"] == dead_letter_id
    assert (mine["error"], mine["failures"]) == ("DecodeError: bad", 10)

    replay = argparse.Namespace(ids=[dead_letter_id], all=False)
    first = await dlq_replay(replay, client)
    again = await dlq_replay(replay, client)
    assert [r["outcome"] for r in first] == ["replayed"]
    assert [r["outcome"] for r in again] == ["not parked"]
    assert not [
        d for d in await dlq_list(argparse.Namespace(), client) if d["event_id"] == event_id
    ]


async def test_replay_needs_ids_or_all_and_says_which_field(client: ShipyardClient) -> None:
    with pytest.raises(ApiError) as refused:
        await client.request("POST", f"{DLQ}:replay", body={})
    assert refused.value.status == 400 and "dead_letter_ids" in str(refused.value.body)
    with pytest.raises(ApiError) as refused:
        await client.request("POST", f"{DLQ}:replay", body={"dead_letter_ids": ["nope\u0000"]})
    assert refused.value.status == 400
