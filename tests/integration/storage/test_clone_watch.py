"""A clone's progress as a stream (WatchVFolderTask) against real files and PostgreSQL: it
follows the task to its outcome, resumes after an event, answers after the task ended, and stays
private to the task's starter."""

from __future__ import annotations

import asyncio
import os
import secrets

import grpc
import pytest
from shipyard.storage.v1 import vfolder_service_pb2 as pb
from shipyard.storage.v1 import vfolder_task_service_pb2 as tpb
from shipyard.storage.v1 import vfolder_task_service_pb2_grpc as tpb_grpc

from tests.integration.storage.helpers import error_info, user

pytestmark = pytest.mark.integration


async def _watch(
    storage, metadata, task_id: str, last: str = ""
) -> list[tpb.WatchVFolderTaskResponse]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{storage.server.port}") as channel:
        stub = tpb_grpc.VFolderTaskServiceStub(channel)
        request = tpb.WatchVFolderTaskRequest(task_id=task_id, last_event_id=last)
        async with asyncio.timeout(60):
            return [e async for e in stub.WatchVFolderTask(request, metadata=metadata)]


async def test_a_clone_is_followed_to_its_end_resumed_and_private(storage) -> None:
    owner, other = user(), user()
    me, them = storage.as_caller(owner), storage.as_caller(other)
    made = await storage.vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=f"w-{secrets.token_hex(3)}"), metadata=me
    )
    source_id = made.vfolder.vfolder_id
    src = storage.volume_root / source_id[:2] / source_id
    for i in range(20):
        (src / f"f{i}").write_bytes(os.urandom(256 * 1024))
    started = await storage.vfolders.CloneVFolder(
        pb.CloneVFolderRequest(vfolder_id=source_id, name=f"copy-{secrets.token_hex(3)}"),
        metadata=me,
    )
    task_id = started.task.task_id

    events = await _watch(storage, me, task_id)
    assert [e.name for e in events[:-1]] == ["bgtask_updated"] * (len(events) - 1)
    end = events[-1]
    assert end.name == "bgtask_done" and end.task.state == pb.V_FOLDER_TASK_STATE_DONE
    assert (end.task.files_copied, end.task.bytes_copied) == (20, 20 * 256 * 1024)
    assert len({e.event_id for e in events}) == len(events)
    copied = [e.task.bytes_copied for e in events]
    assert copied == sorted(copied)

    # Answerable after it ended; nothing more for who saw the outcome already.
    assert [e.event_id for e in await _watch(storage, me, task_id)] == [end.event_id]
    assert await _watch(storage, me, task_id, last=end.event_id) == []

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _watch(storage, them, task_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(err.value).reason == "VFOLDER_TASK_NOT_FOUND"
