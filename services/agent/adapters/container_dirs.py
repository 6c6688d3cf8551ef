"""The host directories of one container-backend kernel (`container_config.HostPaths`): made
before its container, found again from its labels by a restarted agent, removed after it."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from services.agent.adapters import container_config as cc
from services.agent.domain import model as m

log = logging.getLogger(__name__)


def prepare_host_dirs(
    paths: cc.HostPaths, mounts: tuple[m.Mount, ...], run_root: Path, isolation: cc.Isolation
) -> None:
    """Directories the kernel user owns; rw vfolders become writable by that user."""
    uid, gid = isolation.uid, isolation.gid
    remove_host_dirs(paths)  # leftovers of a crashed run
    run_root.mkdir(mode=0o711, parents=True, exist_ok=True)
    if run_root.is_symlink() or run_root.stat().st_uid != os.getuid():
        # A directory someone else made in the shared temp dir could redirect the sockets.
        raise OSError(f"{run_root} is not this agent's own directory")
    for path in (paths.workdir, paths.run_dir):
        path.mkdir(mode=0o700, parents=True)
        os.chown(path, uid, gid)
    for mount in mounts:
        # A kernel writes its rw vfolders as its own uid (Backend.AI's "uid-match"): a folder
        # still owned by root (fresh from storage) is handed to that uid at its top level.
        host = Path(mount.host_path)
        if not mount.read_only and host.lstat().st_uid == 0 and not host.is_symlink():
            os.chown(host, uid, gid, follow_symlinks=False)


def host_paths_from(labels: dict[str, str]) -> cc.HostPaths | None:
    """A container's directories, from the labels the agent gave it (None: not labelled)."""
    kernel_dir, run_dir = labels.get(cc.LABEL_KERNEL_DIR), labels.get(cc.LABEL_RUN_DIR)
    if not kernel_dir or not run_dir:
        return None
    return cc.HostPaths(kernel_dir=Path(kernel_dir), run_dir=Path(run_dir))


def remove_host_dirs(paths: cc.HostPaths) -> None:
    # rmtree does not follow symlinks, and vfolders are bind mounts the engine has undone.
    for path in (paths.kernel_dir, paths.run_dir):
        if path.exists():
            shutil.rmtree(path, onerror=lambda *a: log.warning("cannot remove %s", a[1]))
