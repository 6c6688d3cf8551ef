"""The sandbox argv: absolute programs, mounts with their permission, the kernel's environment."""

from __future__ import annotations

import dataclasses
import os
from decimal import Decimal
from pathlib import Path

from libs.core.kernel_environ import refused_environ
from services.agent.adapters.sandbox import SandboxSettings, Tools, network_command, sandbox_command
from services.agent.domain.model import KernelNetwork, KernelSpec, Mount

TOOLS = Tools(sh="/bin/sh", setpriv="/usr/bin/setpriv", bwrap="/usr/bin/bwrap",
              unshare="/usr/bin/unshare", mount="/bin/mount",
              nsenter="/usr/bin/nsenter")  # fmt: skip


def _argv(spec: KernelSpec, environ: dict[str, str]) -> list[str]:
    return sandbox_command(
        TOOLS,
        SandboxSettings(workdir_bytes=1000, tmp_bytes=500),
        spec,
        python="/usr/bin/python3",
        staging=Path("/run/s/k1.mnt"),
        environ=environ,
        runner_fd=7,
        socket_fd=8,
    )


def _spec(*mounts: Mount) -> KernelSpec:
    return KernelSpec(
        kernel_id="k1", session_id="s1", image="python", cpu=Decimal(1), mem_bytes=0, mounts=mounts
    )


def _pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == flag]


def test_the_kernels_path_never_picks_a_program() -> None:
    argv = _argv(_spec(), {"PATH": "/home/work/evil"})
    runner = argv[argv.index("--", argv.index(TOOLS.bwrap)) + 1 :]
    assert runner[:5] == ["/usr/bin/python3", "-I", "/opt/kernel/runner.py", "--socket-fd", "8"]
    assert _pairs(argv, "--setenv") == [("PATH", "/home/work/evil")]
    assert argv.index("--clearenv") < argv.index("--setenv")


def test_mounts_keep_their_permission_and_sizes_are_bounded() -> None:
    ro = Mount(host_path="/data/a", name="ref", read_only=True)
    rw = Mount(host_path="/data/b", name="out")
    argv = _argv(_spec(ro, rw), {})
    # Root binds the folders on staging dirs first; an unprivileged agent binds them directly.
    ref, out = (
        ("/run/s/k1.mnt/vf0", "/run/s/k1.mnt/vf1") if os.geteuid() == 0 else ("/data/a", "/data/b")
    )
    assert _pairs(argv, "--ro-bind")[-1] == (ref, "/home/work/ref")
    assert _pairs(argv, "--bind") == [(out, "/home/work/out")]  # nothing else writable of the host
    sizes = [("500", "--tmpfs"), ("500", "--tmpfs"), ("1000", "--tmpfs")]  # /dev/shm, /tmp, work
    assert _pairs(argv, "--size") == sizes
    assert {"--unshare-all", "--die-with-parent", "--new-session"} <= set(argv)


def test_a_mount_with_a_kernel_path_binds_there() -> None:
    sub = Mount(host_path="/data/a/sub", name="data", kernel_path="/home/work/x/y")
    whole = Mount(host_path="/data/a", name="data")  # the same folder again, elsewhere
    argv = _argv(_spec(sub, whole), {})
    assert [dst for _, dst in _pairs(argv, "--bind")] == ["/home/work/x/y", "/home/work/data"]
    assert argv[argv.index("--cap-drop") + 1] == "ALL"


def test_loader_variables_are_refused_and_others_pass() -> None:
    names = ["PATH", "LD_PRELOAD", "PYTHONPATH", "LD_AUDIT", "PYTHONHOME", "HOME"]
    assert refused_environ(names) == ["LD_PRELOAD", "LD_AUDIT", "PYTHONHOME"]


def test_a_single_kernel_keeps_a_private_empty_network() -> None:
    spec = _spec()
    argv = _argv(spec, {})
    assert "--share-net" not in argv
    assert "/etc/hosts" not in argv
    assert network_command(TOOLS, spec) == []


def test_a_cluster_kernel_joins_its_prepared_namespace_with_its_hosts_file() -> None:
    net = KernelNetwork(netns_path="/run/netns/sy1-k1", hostname="sub1", hosts_file="/run/h")
    spec = dataclasses.replace(_spec(), cluster_hostname="sub1", network=net)
    argv = _argv(spec, {})
    assert "--unshare-all" in argv and "--share-net" in argv
    assert argv[argv.index("--hostname") + 1] == "sub1"
    assert ("/run/h", "/etc/hosts") in _pairs(argv, "--ro-bind")
    assert network_command(TOOLS, spec) == ["/usr/bin/nsenter", "--net=/run/netns/sy1-k1", "--"]
