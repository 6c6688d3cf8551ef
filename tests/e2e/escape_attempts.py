"""The escape suite's attempts: what a kernel tries in order to get out, for any backend.

Each attempt is Python code run in a fresh session (query mode). The code receives `T` (the
`Targets` of the running platform, as a dict) and the helper `attempt(label, fn)`, which prints
`blocked <label> <error>` when `fn` raises OSError (or returns False) and `ESCAPED <label>` when
it succeeds. `Expect` says what a safe platform does with the attempt.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Expect(StrEnum):
    BLOCKED = "blocked"  # the code runs; every try it makes prints "blocked"
    REFUSED = "refused"  # CreateSession answers 400 naming the environ field
    ENDED = "ended"  # the code fails (killed at its limit) and reports why


@dataclass(frozen=True, slots=True, kw_only=True)
class Targets:
    """What a kernel would go for on this platform (host paths, loopback ports, pids)."""

    state_dir: str  # the platform's data dir: keypair.json, client.json, logs, database
    checkout: str
    tcp_ports: dict[str, int]  # name -> 127.0.0.1 port: edge, edge admin, PG, Redis, services
    host_pids: list[int]  # processes outside any kernel (agent, services, the test itself)
    other_paths: list[str] = field(default_factory=list)  # another session's folder / socket
    read_only_folder: str = ""  # name of a folder created read-only (mounted when asked)
    kernel_uid: int = 64000


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    name: str
    code: str
    expect: Expect
    environ: dict[str, str] = field(default_factory=dict)
    mem_bytes: int = 256 << 20
    mount_read_only_folder: bool = False


PRELUDE = """\
import json, os, signal, socket, sys
def attempt(label, fn):
    try:
        ok = fn()
    except OSError as exc:
        print("blocked", label, type(exc).__name__)
        return
    print(("ESCAPED " if ok is not False else "blocked ") + label)
"""


def program(attempt: Attempt, targets: Targets) -> str:
    """The code a session runs for `attempt` against `targets`."""
    return PRELUDE + f"T = json.loads({json.dumps(asdict(targets))!r})\n" + attempt.code


ATTEMPTS: list[Attempt] = [
    Attempt(
        name="read-platform-state-and-keys",
        code="""
for path in (T["state_dir"] + "/keypair.json", T["state_dir"] + "/client.json",
             T["checkout"] + "/.shipyard/client.json", "/etc/shadow"):
    attempt(path, lambda: open(path).read())
attempt("list state dir", lambda: os.listdir(T["state_dir"]))
""",
        expect=Expect.BLOCKED,
    ),
    Attempt(
        name="write-outside-work-dir",
        code="""
for path in (T["checkout"] + "/pwned", T["state_dir"] + "/pwned", "/usr/pwned", "/etc/pwned",
             "/pwned", "/opt/pwned"):
    attempt(path, lambda: open(path, "w").write("x"))
""",
        expect=Expect.BLOCKED,
    ),
    Attempt(
        name="read-another-sessions-files",
        code="""
for path in T["other_paths"]:
    attempt(path, lambda: os.listdir(path) if os.path.isdir(path) else open(path).read())
attempt("find it by walking", lambda: any("secret" in f for d in ("/home", "/tmp", "/run")
                                          for _, _, fs in os.walk(d) for f in fs))
""",
        expect=Expect.BLOCKED,
    ),
    Attempt(
        name="signal-processes-outside",
        code="""
for pid in T["host_pids"]:
    attempt(f"kill {pid}", lambda: os.kill(pid, signal.SIGKILL))
attempt("see host processes", lambda: len([p for p in os.listdir("/proc") if p.isdigit()]) > 10)
""",
        expect=Expect.BLOCKED,
    ),
    Attempt(
        name="connect-to-loopback-services",
        code="""
for name, port in T["tcp_ports"].items():
    attempt(f"{name}:{port}", lambda: socket.create_connection(("127.0.0.1", port), 2).close())
""",
        expect=Expect.BLOCKED,
    ),
    Attempt(
        name="connect-to-another-runner-socket",
        code="""
def dial(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(path)
for path in [p for p in T["other_paths"] if p.endswith(".sock")] or ["(none found)"]:
    attempt(path, lambda: dial(path))
""",
        expect=Expect.BLOCKED,
    ),
    Attempt(
        name="raise-own-cgroup-limits",
        code="""
groups = [line.split(":", 2) for line in open("/proc/self/cgroup").read().splitlines()]
for _, names, path in groups:
    for ctl, knob in (("memory", "memory.limit_in_bytes"), ("pids", "pids.max"),
                      ("cpu", "cpu.cfs_quota_us"), ("", "memory.max")):
        if ctl in names.split(",") or (ctl == "" and names == ""):
            f = f"/sys/fs/cgroup/{ctl}{path}/{knob}".replace("//", "/")
            attempt(f, lambda: open(f, "w").write("max" if knob.endswith("max") else "-1"))
# The kernel's own view of its cgroups (a container sees them read-only at the top).
for knob in ("memory/memory.limit_in_bytes", "pids/pids.max", "cpu/cpu.cfs_quota_us",
             "memory.max", "pids.max"):
    f = "/sys/fs/cgroup/" + knob
    attempt(f, lambda: open(f, "w").write("max" if knob.endswith("max") else "-1"))
""",
        expect=Expect.BLOCKED,
    ),
    Attempt(
        name="override-path-through-environ",
        code="""
# PATH is the user's inside the kernel, but the wrapper and runner were not taken from it.
attempt("runner taken from PATH", lambda: not sys.executable.startswith("/usr/"))
attempt("left the sandbox", lambda: os.getuid() == 0 or os.path.exists(T["state_dir"]))
""",
        expect=Expect.BLOCKED,
        environ={"PATH": "/home/work/evil:/tmp/evil:/usr/bin:/bin"},
    ),
    Attempt(
        name="ld-preload-through-environ",
        code="print('ESCAPED the session started')",
        expect=Expect.REFUSED,
        environ={"LD_PRELOAD": "/home/work/evil.so"},
    ),
    Attempt(
        name="write-to-read-only-vfolder",
        code="""
folder = T["read_only_folder"]
os.listdir(folder)  # reading is allowed: this must not raise
for path in (f"{folder}/new.txt", f"{folder}/sub"):
    attempt(path, lambda: open(path, "w").write("x"))
attempt("mkdir", lambda: os.mkdir(f"{folder}/dir"))
attempt("chmod", lambda: os.chmod(folder, 0o777))
""",
        expect=Expect.BLOCKED,
        mount_read_only_folder=True,
    ),
    Attempt(
        name="exceed-memory",
        code="blob = b'x' * (1 << 30)\nprint('ESCAPED allocated 1 GiB')",
        expect=Expect.ENDED,
        mem_bytes=128 << 20,
    ),
    Attempt(
        name="fork-without-bound",
        code="""
kids = []
def bomb():
    while len(kids) < 100000:
        pid = os.fork()
        if pid == 0:  # a small process per fork, so the pids limit comes before memory
            os.execv("/bin/sleep", ["sleep", "120"])
        kids.append(pid)
attempt("fork bomb", bomb)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
""",
        expect=Expect.BLOCKED,
    ),
]
