"""Domain values → protobuf messages (pure functions)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.storage.v1 import vfolder_service_pb2 as pb

from services.storage.domain.model import Mount, MountPermission, UsageMode, VFolder, VFolderStatus
from services.storage.domain.tasks import TaskState, VFolderTask


def vfolder_to_pb(folder: VFolder) -> pb.VFolder:
    create_time = Timestamp()
    create_time.FromDatetime(folder.created_at)
    message = pb.VFolder(
        vfolder_id=folder.id,
        name=folder.name,
        owner_user_id=folder.owner_user_id,
        volume=folder.volume,
        create_time=create_time,
        domain_name=folder.domain_name,
        project_id=folder.project_id,
        permission=PERMISSION_TO_PB[folder.permission],
        usage_mode=USAGE_TO_PB[folder.usage_mode],
        cloneable=folder.cloneable,
        status=STATUS_TO_PB[folder.status],
    )
    if folder.trashed_at is not None:
        message.trash_time.FromDatetime(folder.trashed_at)
    return message


def mount_to_pb(mount: Mount) -> pb.ResolvedMount:
    return pb.ResolvedMount(
        vfolder_id=mount.vfolder_id,
        name=mount.name,
        host_path=mount.host_path,
        read_only=mount.read_only,
        kernel_path=mount.kernel_path,
    )


PERMISSION_TO_PB = {
    MountPermission.READ_WRITE: pb.MOUNT_PERMISSION_READ_WRITE,
    MountPermission.READ_ONLY: pb.MOUNT_PERMISSION_READ_ONLY,
    MountPermission.READ_WRITE_DELETE: pb.MOUNT_PERMISSION_READ_WRITE_DELETE,
}
_PERMISSION_FROM_PB: dict[int, MountPermission] = {int(v): k for k, v in PERMISSION_TO_PB.items()}


def permission_from_pb(
    value: int, unspecified: MountPermission = MountPermission.READ_WRITE
) -> MountPermission:
    """`unspecified` for 0 (the validator refuses undefined values)."""
    return _PERMISSION_FROM_PB.get(value, unspecified)


USAGE_TO_PB = {
    UsageMode.GENERAL: pb.V_FOLDER_USAGE_MODE_GENERAL,
    UsageMode.MODEL: pb.V_FOLDER_USAGE_MODE_MODEL,
    UsageMode.DATA: pb.V_FOLDER_USAGE_MODE_DATA,
}
_USAGE_FROM_PB: dict[int, UsageMode] = {int(v): k for k, v in USAGE_TO_PB.items()}
STATUS_TO_PB = {
    VFolderStatus.READY: pb.V_FOLDER_STATUS_READY,
    VFolderStatus.CLONING: pb.V_FOLDER_STATUS_CLONING,
    VFolderStatus.TRASHED: pb.V_FOLDER_STATUS_TRASHED,
    VFolderStatus.DELETING: pb.V_FOLDER_STATUS_DELETING,
    VFolderStatus.PERFORMING: pb.V_FOLDER_STATUS_PERFORMING,
    VFolderStatus.MOUNTED: pb.V_FOLDER_STATUS_MOUNTED,
}


def usage_from_pb(value: int) -> UsageMode:
    """General for 0 (the validator refuses undefined values)."""
    return _USAGE_FROM_PB.get(value, UsageMode.GENERAL)


_TASK_STATE_TO_PB = {
    TaskState.RUNNING: pb.V_FOLDER_TASK_STATE_RUNNING,
    TaskState.DONE: pb.V_FOLDER_TASK_STATE_DONE,
    TaskState.FAILED: pb.V_FOLDER_TASK_STATE_FAILED,
}


def task_to_pb(task: VFolderTask) -> pb.VFolderTask:
    created, updated = Timestamp(), Timestamp()
    created.FromDatetime(task.created_at)
    updated.FromDatetime(task.updated_at)
    return pb.VFolderTask(
        task_id=task.id,
        kind=task.kind,
        state=_TASK_STATE_TO_PB[task.state],
        source_vfolder_id=task.source_id,
        target_vfolder_id=task.target_id,
        bytes_copied=task.bytes_copied,
        files_copied=task.files_copied,
        error=task.error,
        create_time=created,
        update_time=updated,
    )
