"""The host paths of one process-backend kernel, made before it starts, removed after.

- `<KERNEL_ROOT>/<kernel id>/`: the agent's only (0700): the runner log.
- `<socket base>/<kernel id>.sock`: the runner's listening socket, made and bound by the agent
  (0600, root's); the kernel only gets the open socket.
- `<socket base>/<kernel id>.mnt/<name>`: staging mount points the vfolders are bound on (as root,
  in the kernel's private mount namespace) before the sandbox binds them; the socket base is
  0711, so the kernel uid can reach them without listing anything.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path

from services.agent.adapters.device_mask import staged_name
from services.agent.adapters.sandbox import SandboxSettings
from services.agent.domain import model as m
from services.agent.domain.names import staged_mount

log = logging.getLogger(__name__)


def staging_dir(socket_path: Path) -> Path:
    return socket_path.with_suffix(".mnt")


def prepare_dirs(
    kernel_dir: Path,
    socket_path: Path,
    mounts: tuple[m.Mount, ...],
    sandbox: SandboxSettings,
    devices: Sequence[str] = (),
) -> socket.socket:
    """Make the kernel's directories and its listening socket; rw vfolders become writable by
    the kernel uid."""
    remove_tree(kernel_dir)  # a leftover of an agent that crashed
    remove_socket(socket_path)
    kernel_dir.mkdir(parents=True, mode=0o700)
    staging = staging_dir(socket_path)
    staging.mkdir(mode=0o711)
    for i, _ in enumerate(mounts):
        (staging / staged_mount(i)).mkdir()
    for i, _ in enumerate(dict.fromkeys(devices)):
        (staging / staged_name(i)).touch()  # a device node's bind target
    if os.geteuid() == 0:
        uid, gid = sandbox.uid, sandbox.gid
        for mount in mounts:
            # The kernel uid owns a folder it may write to (its top directory only).
            host = Path(mount.host_path)
            if not mount.read_only and host.lstat().st_uid != uid and not host.is_symlink():
                os.chown(host, uid, gid, follow_symlinks=False)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(socket_path))
        socket_path.chmod(0o600)
        server.listen(16)
    except OSError:
        server.close()
        raise
    return server


def remove_socket(socket_path: Path) -> None:
    """A kernel's socket and its staging mount points (empty outside its mount namespace)."""
    socket_path.unlink(missing_ok=True)
    remove_tree(staging_dir(socket_path))


def remove_tree(path: Path) -> None:
    # rmtree unlinks symlinks instead of following them, so vfolders are never touched.
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=lambda *a: log.warning("cannot remove %s", a[1]))
