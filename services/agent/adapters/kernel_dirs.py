"""The host directories of one process-backend kernel, made before it starts, removed after.

- `<KERNEL_ROOT>/<kernel id>/`: the agent's only (0700): the runner log.
- `<socket base>/<kernel id>/`: the kernel's socket dir (0700, owned by the kernel uid), bound
  into that kernel alone at /run/kernel.
- `<socket base>/<kernel id>.mnt/<name>`: staging mount points the vfolders are bound on (as root,
  in the kernel's private mount namespace) before the sandbox binds them.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from services.agent.adapters.sandbox import SandboxSettings
from services.agent.domain import model as m

log = logging.getLogger(__name__)


def staging_dir(socket_dir: Path) -> Path:
    return socket_dir.with_name(socket_dir.name + ".mnt")


def prepare_dirs(
    kernel_dir: Path, socket_dir: Path, mounts: tuple[m.Mount, ...], sandbox: SandboxSettings
) -> None:
    """Make the kernel's directories; rw vfolders become writable by the kernel uid."""
    remove_tree(kernel_dir)  # a leftover of an agent that crashed
    remove_socket_dirs(socket_dir)
    kernel_dir.mkdir(parents=True, mode=0o700)
    socket_dir.mkdir(mode=0o700)
    staging = staging_dir(socket_dir)
    staging.mkdir(mode=0o711)
    for mount in mounts:
        (staging / mount.name).mkdir()
    if os.geteuid() == 0:
        uid, gid = sandbox.uid, sandbox.gid
        os.chown(socket_dir, uid, gid)
        for mount in mounts:
            # The kernel uid owns a folder it may write to (its top directory only).
            if not mount.read_only and Path(mount.host_path).stat().st_uid != uid:
                os.chown(mount.host_path, uid, gid)


def remove_socket_dirs(socket_dir: Path) -> None:
    """A kernel's socket dir and its staging mount points (empty outside its mount namespace)."""
    remove_tree(socket_dir)
    remove_tree(staging_dir(socket_dir))


def remove_tree(path: Path) -> None:
    # rmtree unlinks symlinks instead of following them, so vfolders are never touched.
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=lambda *a: log.warning("cannot remove %s", a[1]))
