"""What both kernel backends refuse before starting anything: unusable ids and mount names,
folders missing on this node, and environment variables a kernel may not set."""

from __future__ import annotations

import os
from pathlib import Path

from libs.core.errors import FailedPrecondition, FieldViolation, InvalidArgument
from libs.core.kernel_environ import refused_environ
from services.agent.domain import model as m
from services.agent.domain.model import WORKDIR
from services.agent.domain.names import (
    is_safe_kernel_id,
    is_safe_kernel_path,
    is_safe_mount_name,
)


def spec_metadata(spec: m.KernelSpec) -> dict[str, str]:
    return {"kernel_id": spec.kernel_id, "session_id": spec.session_id}


def check_spec(spec: m.KernelSpec) -> None:
    """InvalidArgument or FailedPrecondition (naming the kernel) for a spec no backend runs."""
    if not is_safe_kernel_id(spec.kernel_id):
        raise InvalidArgument(
            f"unusable kernel id {spec.kernel_id!r}", metadata=spec_metadata(spec)
        )
    for mount in spec.mounts:
        if not is_safe_mount_name(mount.name):
            raise InvalidArgument(
                f"unusable mount name {mount.name!r}", metadata=spec_metadata(spec)
            )
        if mount.kernel_path and not is_safe_kernel_path(mount.kernel_path, WORKDIR):
            raise InvalidArgument(
                f"unusable kernel path {mount.kernel_path!r}", metadata=spec_metadata(spec)
            )
        if not Path(mount.host_path).is_dir():
            msg = f"vfolder path {mount.host_path} does not exist on this node"
            raise FailedPrecondition(msg, metadata=spec_metadata(spec))
        # A subpath's directories belong to the folder's writers: one swapped for a link since
        # storage checked it must not lead the bind (or the chown) elsewhere on the host.
        if os.path.realpath(mount.host_path) != os.path.normpath(mount.host_path):
            msg = f"vfolder path {mount.host_path} leads through a symbolic link"
            raise FailedPrecondition(msg, metadata=spec_metadata(spec))
    if refused := refused_environ(spec.environ):
        raise InvalidArgument(
            f"environ may not set {', '.join(refused)}",
            metadata=spec_metadata(spec),
            violations=[FieldViolation(f"environ[{k}]", "may not be set") for k in refused],
        )
