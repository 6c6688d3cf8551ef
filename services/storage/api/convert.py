"""Domain values → protobuf messages (pure functions)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.storage.v1 import vfolder_service_pb2 as pb

from services.storage.domain.model import Mount, MountPermission, VFolder


def vfolder_to_pb(folder: VFolder) -> pb.VFolder:
    create_time = Timestamp()
    create_time.FromDatetime(folder.created_at)
    return pb.VFolder(
        vfolder_id=folder.id,
        name=folder.name,
        owner_user_id=folder.owner_user_id,
        volume=folder.volume,
        create_time=create_time,
        domain_name=folder.domain_name,
        project_id=folder.project_id,
        permission=PERMISSION_TO_PB[folder.permission],
    )


def mount_to_pb(mount: Mount) -> pb.ResolvedMount:
    return pb.ResolvedMount(
        vfolder_id=mount.vfolder_id,
        name=mount.name,
        host_path=mount.host_path,
        read_only=mount.read_only,
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
