"""Cloning folders in the background against real files and PostgreSQL: progress, the source's
status, who may clone, and tasks a stopped service left behind."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from shipyard.storage.v1 import vfolder_service_pb2 as pb
from shipyard.storage.v1 import vfolder_service_pb2_grpc as pb_grpc
from sqlalchemy import select

from libs.core.identity import HEADER_INTERNAL_TOKEN, caller_to_headers
from libs.core.ids import new_id
from libs.db.engine import session_factory
from services.storage.adapters.tables import vfolders
from services.storage.adapters.task_repository import SqlTaskStore
from services.storage.app import serve
from services.storage.config import Settings
from services.storage.domain.model import VFolder, VFolderStatus
from services.storage.domain.tasks import TaskState, VFolderTask
from services.storage.service.clone import RESTART_ERROR
from tests.integration.storage.helpers import error_info, user

pytestmark = pytest.mark.integration


def _dir(root: Path, folder_id: str) -> Path:
    return root / folder_id[:2] / folder_id


async def _folder(storage, metadata, **fields) -> str:
    made = await storage.vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=f"c-{secrets.token_hex(3)}", **fields), metadata=metadata
    )
    return str(made.vfolder.vfolder_id)


async def _settled(storage, metadata, task_id: str) -> pb.VFolderTask:
    request = pb.GetVFolderTaskRequest(task_id=task_id)
    for _ in range(600):
        task = (await storage.vfolders.GetVFolderTask(request, metadata=metadata)).task
        if task.state != pb.V_FOLDER_TASK_STATE_RUNNING:
            return task
        await asyncio.sleep(0.05)
    raise AssertionError("the clone did not settle")


async def test_an_owner_clones_a_tree_and_the_source_comes_back_ready(storage) -> None:
    owner = user()
    me = storage.as_caller(owner)
    source_id = await _folder(storage, me)
    src = _dir(storage.volume_root, source_id)
    (src / "data" / "deep").mkdir(parents=True)
    payload = os.urandom(3 * 1024 * 1024 + 5)
    (src / "data" / "deep" / "blob").write_bytes(payload)
    (src / "data" / "run.sh").write_text("#!/bin/sh\n")
    (src / "data" / "run.sh").chmod(0o750)
    (src / "outside").symlink_to("/etc/passwd")

    started = await storage.vfolders.CloneVFolder(
        pb.CloneVFolderRequest(vfolder_id=source_id, name=f"copy-{secrets.token_hex(3)}"),
        metadata=me,
    )
    task = await _settled(storage, me, started.task.task_id)
    assert task.state == pb.V_FOLDER_TASK_STATE_DONE, task.error
    assert task.source_vfolder_id == source_id
    assert task.files_copied == 5  # data, deep, blob, run.sh, outside
    assert task.bytes_copied == len(payload) + len("#!/bin/sh\n")

    dst = _dir(storage.volume_root, task.target_vfolder_id)
    assert (dst / "data" / "deep" / "blob").read_bytes() == payload
    assert (dst / "data" / "run.sh").stat().st_mode & 0o777 == 0o750
    assert str((dst / "outside").readlink()) == "/etc/passwd"  # copied as a link, not followed
    listed = await storage.vfolders.ListVFolders(pb.ListVFoldersRequest(), metadata=me)
    status = {f.vfolder_id: f.status for f in listed.vfolders}
    assert status[source_id] == pb.V_FOLDER_STATUS_READY
    assert status[task.target_vfolder_id] == pb.V_FOLDER_STATUS_READY


async def test_only_cloneable_or_own_folders_are_cloned_and_tasks_stay_private(storage) -> None:
    owner, other = user(), user()
    me, them = storage.as_caller(owner), storage.as_caller(other)
    source_id = await _folder(storage, me)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.CloneVFolder(
            pb.CloneVFolderRequest(vfolder_id=source_id, name="mine-now"), metadata=them
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    started = await storage.vfolders.CloneVFolder(
        pb.CloneVFolderRequest(vfolder_id=source_id, name=f"k-{secrets.token_hex(3)}"),
        metadata=me,
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.GetVFolderTask(
            pb.GetVFolderTaskRequest(task_id=started.task.task_id), metadata=them
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(err.value).reason == "VFOLDER_TASK_NOT_FOUND"
    await _settled(storage, me, started.task.task_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.CloneVFolder(
            pb.CloneVFolderRequest(vfolder_id=source_id, name="bad name!"), metadata=me
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_clone_interrupted_by_a_stop_fails_cleanly_at_the_next_start(
    storage, database_url, internal_token
) -> None:
    owner = user()
    me = storage.as_caller(owner)
    source_id = await _folder(storage, me)
    (_dir(storage.volume_root, source_id) / "f").write_bytes(b"keep me")
    # What a service stopped mid-copy leaves: source cloning, target performing, task running.
    now = datetime.now(UTC)
    target = VFolder(
        id=new_id(),
        name=f"half-{secrets.token_hex(3)}",
        owner_user_id=owner.user_id,
        volume="local",
        status=VFolderStatus.PERFORMING,
        created_at=now,
        domain_name=owner.domain_name,
    )
    task = VFolderTask(
        id=new_id(),
        kind="clone",
        owner_user_id=owner.user_id,
        source_id=source_id,
        target_id=target.id,
        state=TaskState.RUNNING,
        bytes_copied=3,
        files_copied=1,
        error="",
        created_at=now,
        updated_at=now,
    )
    store = SqlTaskStore(session_factory(storage.engine))
    assert await store.start(task, target)
    half = _dir(storage.volume_root, target.id)
    half.mkdir(parents=True)
    (half / "f").write_bytes(b"kee")

    restarted = await serve(
        Settings(
            internal_token=internal_token,
            database_url=database_url,
            bind="127.0.0.1:0",
            http_bind="127.0.0.1:0",
            folder_policy=False,  # no auth here
            volume_root=storage.volume_root,
        )
    )
    await restarted.stop(grace=0)
    settled = await store.get(task.id)
    assert settled is not None
    assert (settled.state, settled.error) == (TaskState.FAILED, RESTART_ERROR)
    assert not half.exists()
    async with session_factory(storage.engine)() as session:
        found = await session.execute(
            select(vfolders.c.id, vfolders.c.status).where(
                vfolders.c.id.in_([source_id, target.id])
            )
        )
        rows = {str(r.id): r.status for r in found}
    assert rows == {source_id: "ready"}
    assert (_dir(storage.volume_root, source_id) / "f").read_bytes() == b"keep me"


async def test_a_clone_that_fails_midway_leaves_no_half_copy_and_the_source_ready(
    database_url, internal_token, tmp_path: Path
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    volumes = [
        {"name": "big", "root": str(tmp_path / "big")},
        {"name": "small", "root": str(small)},
    ]
    server = await serve(
        Settings(
            internal_token=internal_token,
            database_url=database_url,
            bind="127.0.0.1:0",
            http_bind="127.0.0.1:0",
            folder_policy=False,  # no auth here
            volumes=json.dumps(volumes),
        )
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        stub = pb_grpc.VFolderServiceStub(channel)
        owner = user()
        me = ((HEADER_INTERNAL_TOKEN, internal_token), *caller_to_headers(owner).items())
        made = await stub.CreateVFolder(pb.CreateVFolderRequest(name="big-one"), metadata=me)
        source_id = made.vfolder.vfolder_id
        (_dir(tmp_path / "big", source_id) / "a").write_bytes(os.urandom(1024 * 1024))
        (_dir(tmp_path / "big", source_id) / "b").write_bytes(os.urandom(3 * 1024 * 1024))
        started = await stub.CloneVFolder(
            pb.CloneVFolderRequest(vfolder_id=source_id, name="too-big", volume="small"),
            metadata=me,
        )
        request = pb.GetVFolderTaskRequest(task_id=started.task.task_id)
        for _ in range(600):
            task = (await stub.GetVFolderTask(request, metadata=me)).task
            if task.state != pb.V_FOLDER_TASK_STATE_RUNNING:
                break
            await asyncio.sleep(0.05)
        assert task.state == pb.V_FOLDER_TASK_STATE_FAILED
        assert "No space left" in task.error
        assert not _dir(small, task.target_vfolder_id).exists()
        listed = await stub.ListVFolders(pb.ListVFoldersRequest(), metadata=me)
        assert [(f.name, f.status) for f in listed.vfolders] == [
            ("big-one", pb.V_FOLDER_STATUS_READY)
        ]
    finally:
        await channel.close()
        await server.stop(grace=0)
        subprocess.run(["umount", "-l", str(small)], check=False)
