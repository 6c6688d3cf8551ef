"""Process-level duties of the runner (`__main__.py` loads this file): init of a PID namespace,
taking a session's environment (a pre-started runner), and restarting in place.

Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kernels may have a python older than these annotations
    from collections.abc import Callable
    from types import FrameType

GENERATION_ENV = "SHIPYARD_RUNNER_GENERATION"


def become_init(oom_flag: str = "") -> None:
    """As PID 1 of a new PID namespace, fork: the parent reaps orphans and relays signals."""
    child = os.fork()
    if child == 0:
        return

    def relay(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, relay)
    while True:
        pid, status = os.wait()
        if pid == child:
            signaled = os.WIFSIGNALED(status)
            if oom_flag and signaled and os.WTERMSIG(status) == signal.SIGKILL and _oom_killed():
                with contextlib.suppress(OSError):
                    Path(oom_flag).touch()
            os._exit(128 + os.WTERMSIG(status) if signaled else os.WEXITSTATUS(status))


def _oom_killed() -> bool:
    """Whether the OOM killer struck in our own cgroup (cgroup v2, else v1)."""
    for path, key in (
        ("/sys/fs/cgroup/memory.events", "oom_kill"),
        ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
    ):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(path).read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value) > 0
    return False


def take_environ(environ: object, workdir: str) -> bool:
    """Make `environ` this process's whole environment (False: it is no object of strings)."""
    if not isinstance(environ, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in environ.items()
    ):
        return False
    os.environ.clear()  # exactly what a runner started for this session would have had
    os.environ.update(environ)
    os.environ["HOME"] = workdir
    time.tzset()  # the time module read TZ when it was imported
    return True


def restart(
    stop_jupyter: Callable[[], None] | None,
    kill_all: Callable[[], None],
    server: socket.socket | None,
    workdir: str,
    generation: int,
) -> None:
    """Stop what the runner started, then exec a fresh runner in this process: same sandbox or
    container, same work dir, same listening socket (its fd number is in the argv)."""
    time.sleep(0.2)  # let the reply reach the agent
    if stop_jupyter is not None:
        with contextlib.suppress(Exception):
            stop_jupyter()
    kill_all()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.chdir(workdir)
    if server is not None:
        server.set_inheritable(True)
    os.environ[GENERATION_ENV] = str(generation)
    argv = list(getattr(sys, "orig_argv", []))[1:] or sys.argv
    argv = [a for a in argv if a != "--await-setup"]  # the environment is this process's now
    os.execv(sys.executable, [sys.executable, *argv])
