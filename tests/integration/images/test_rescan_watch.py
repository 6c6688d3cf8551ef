"""A rescan's progress as a stream (WatchRescanTask), against a real docker-registry: the watch
follows the task to its outcome, resumes after an event, and answers after the task ended."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from shipyard.registry.v1 import container_registry_service_pb2 as cr_pb
from shipyard.registry.v1 import rescan_task_service_pb2 as pb
from shipyard.registry.v1 import rescan_task_service_pb2_grpc as pb_grpc

from libs.core.identity import Role
from tests.integration.images.conftest import Platform
from tests.integration.images.helpers import add_registry, expect_code

pytestmark = pytest.mark.integration


async def _watch(
    platform: Platform, task_id: str, last: str = ""
) -> list[pb.WatchRescanTaskResponse]:
    stub = pb_grpc.RescanTaskServiceStub(platform.channel)
    request = pb.WatchRescanTaskRequest(task_id=task_id, last_event_id=last)
    async with asyncio.timeout(60):
        return [
            e
            async for e in stub.WatchRescanTask(
                request, metadata=platform.as_caller(platform.superadmin)
            )
        ]


async def test_the_watch_follows_a_rescan_to_its_end_and_resumes(platform, docker_registry) -> None:
    await add_registry(platform, docker_registry.host, docker_registry.url)
    started = await platform.registries.RescanContainerRegistry(
        cr_pb.RescanContainerRegistryRequest(name=docker_registry.host),
        metadata=platform.as_caller(platform.superadmin),
    )
    task_id = started.task.task_id
    events = await _watch(platform, task_id)

    assert [e.name for e in events[:-1]] == ["bgtask_updated"] * (len(events) - 1)
    end = events[-1]
    assert end.name == "bgtask_done" and end.task.state == cr_pb.RescanTask.STATE_SUCCEEDED
    assert end.task.done == end.task.total > 0
    assert len({e.event_id for e in events}) == len(events)
    done = [e.task.done for e in events]
    assert done == sorted(done)

    # After it ended: one event with the outcome; nothing more for who saw the outcome already.
    again = await _watch(platform, task_id)
    assert [(e.event_id, e.name) for e in again] == [(end.event_id, "bgtask_done")]
    assert await _watch(platform, task_id, last=end.event_id) == []


async def test_users_cannot_watch_rescans_and_unknown_tasks_are_not_found(platform) -> None:
    stub = pb_grpc.RescanTaskServiceStub(platform.channel)
    user = await platform.user(Role.USER)
    request = pb.WatchRescanTaskRequest(task_id="00000000-0000-4000-8000-000000000000")

    async def watch_as(metadata: tuple[tuple[str, str], ...]) -> None:
        async for _ in stub.WatchRescanTask(request, metadata=metadata):
            pass

    await expect_code(watch_as(platform.as_caller(user)), grpc.StatusCode.PERMISSION_DENIED)
    await expect_code(watch_as(platform.as_caller(platform.superadmin)), grpc.StatusCode.NOT_FOUND)
    bad = pb.WatchRescanTaskRequest(task_id=request.task_id, last_event_id="x")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in stub.WatchRescanTask(bad, metadata=platform.as_caller(platform.superadmin)):
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "last_event_id" in (err.value.details() or "")
