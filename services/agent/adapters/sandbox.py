"""The bubblewrap sandbox a process-backend kernel runs in (see docs/kernel-isolation.md).

`sandbox_command` builds the argv that the agent (root) execs after the kernel has joined its
cgroups: `setpriv` drops to the kernel uid/gid with no capabilities and no new privileges, then
`bwrap` makes new user, PID, IPC, UTS, mount and network namespaces with read-only system
directories, size-bounded tmpfs `/tmp`, `/dev/shm` and `/home/work`, and the vfolders with their
permission. The runner serves on a listening socket the agent made and hands over as an open fd,
so no socket path exists inside the sandbox. Every program is named by an absolute path resolved
once from a fixed system PATH, never from a kernel's `environ`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.agent.adapters.device_mask import bwrap_device_args
from services.agent.domain import model as m
from services.agent.domain.names import staged_mount

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Read-only system directories and files the kernel sees (those that exist on this host).
SYSTEM_RO = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/mime.types",
    "/etc/matplotlibrc",  # Debian's python3-matplotlib keeps its defaults there
)
WORKDIR = m.WORKDIR
RUNNER_PATH = "/opt/kernel/runner.py"
PTY_PATH = "/opt/kernel/pty_session.py"  # beside the runner, which loads it from there


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxSettings:
    uid: int = 64000
    gid: int = 64000
    workdir_bytes: int = 1 << 30  # tmpfs size bound of /home/work
    tmp_bytes: int = 256 << 20  # tmpfs size bound of /tmp


@dataclass(frozen=True, slots=True)
class Tools:
    sh: str
    setpriv: str
    bwrap: str
    unshare: str
    mount: str
    nsenter: str

    @staticmethod
    def find() -> Tools:
        """The absolute paths of the wrapper's programs; KernelStartFailed naming a missing one."""
        found = {name: shutil.which(name, path=SYSTEM_PATH) for name in Tools.__slots__}
        missing = [name for name, path in found.items() if path is None]
        if missing:
            msg = f"the kernel sandbox needs {', '.join(missing)} (Debian: bubblewrap, util-linux)"
            raise m.KernelStartFailed(msg)
        return Tools(**{k: str(v) for k, v in found.items()})


# Binds "$1" on "$2" for each pair before "--", then execs the rest.
_BIND_ALL = (
    'while [ "$1" != -- ]; do {} --bind "$1" "$2" || exit 125; shift 2; done; shift; exec "$@"'
)


def staging_command(tools: Tools, binds: Sequence[tuple[str, Path]]) -> list[str]:
    """Root's argv prefix binding each vfolder on its staging dir in a private mount namespace.

    The kernel uid then binds the staging dirs (which it can reach) instead of the vfolders'
    own paths (which may lie below directories closed to it, as /root or a 0700 data dir).
    """
    if not binds or os.geteuid() != 0:  # unprivileged: the kernel binds the folders themselves
        return []
    pairs = [str(p) for src, dst in binds for p in (src, dst)]
    private = [tools.unshare, "--mount", "--propagation", "private", "--"]
    return [*private, tools.sh, "-c", _BIND_ALL.format(tools.mount), "bind", *pairs, "--"]


def sandbox_command(
    tools: Tools,
    settings: SandboxSettings,
    spec: m.KernelSpec,
    *,
    python: str,
    staging: Path,
    environ: Mapping[str, str],
    runner_fd: int,
    socket_fd: int,
    module_fds: Sequence[tuple[str, int]] = (),
    jupyter: bool = False,
    await_setup: bool = False,
) -> list[str]:
    """setpriv + bwrap argv running the kernel runner, whose script bwrap reads from `runner_fd`
    (and its sibling modules, by file name, from `module_fds`) and which serves on the
    inherited listening socket `socket_fd` (no path of it inside). `await_setup`: a pre-started
    kernel, whose runner gets its session's environment later (process_kernel.py)."""
    drop: list[str] = []
    if os.geteuid() == 0:  # an unprivileged agent's kernels run as the agent's own user
        drop = [tools.setpriv, f"--reuid={settings.uid}", f"--regid={settings.gid}"]
        drop += ["--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        drop += ["--"]
    # --unshare-all: user, PID, IPC, UTS, mount, network and (where possible) cgroup namespaces.
    box = [tools.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if spec.network is None:
        box += ["--hostname", "kernel"]
    else:  # a cluster kernel keeps the namespace the agent made for it (cluster_network.py)
        box += ["--share-net", "--hostname", spec.network.hostname]
        box += ["--ro-bind", spec.network.hosts_file, "/etc/hosts"]
    for path in SYSTEM_RO:
        if Path(path).exists():
            box += ["--ro-bind", path, path]
    box += ["--proc", "/proc", "--dev", "/dev", "--size", str(settings.tmp_bytes)]
    box += ["--tmpfs", "/dev/shm"]
    box += ["--size", str(settings.tmp_bytes), "--tmpfs", "/tmp"]
    box += ["--size", str(settings.workdir_bytes), "--tmpfs", WORKDIR]
    # Granted device nodes only, after every tmpfs so that none hides them.
    box += bwrap_device_args(spec.devices, staging if os.geteuid() == 0 else None)
    for i, mount in enumerate(spec.mounts):
        source = staging / staged_mount(i) if os.geteuid() == 0 else Path(mount.host_path)
        box += ["--ro-bind" if mount.read_only else "--bind", str(source), mount.target]
    box += ["--ro-bind-data", str(runner_fd), RUNNER_PATH]
    for name, fd in module_fds:
        box += ["--ro-bind-data", str(fd), f"{Path(RUNNER_PATH).parent}/{name}"]
    # The sandbox's own root (a tmpfs holding the mount points) becomes read-only too.
    box += ["--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
    for key, value in environ.items():
        box += ["--setenv", key, value]
    # -I: the runner ignores PYTHON* variables and user site dirs of the kernel's environ.
    runner = [python, "-I", RUNNER_PATH, "--socket-fd", str(socket_fd)]
    runner += ["--workdir", WORKDIR]
    if jupyter:
        runner += ["--jupyter"]
    if await_setup:
        runner += ["--await-setup"]
    if spec.startup_command:
        runner += ["--startup-command", spec.startup_command]
    return [*drop, *box, "--", *runner]


def network_command(tools: Tools, spec: m.KernelSpec) -> list[str]:
    """Root's argv prefix entering a cluster kernel's network namespace (none otherwise)."""
    if spec.network is None:
        return []
    return [tools.nsenter, f"--net={spec.network.netns_path}", "--"]
