"""Shipyard kernel runner: runs code inside a kernel on behalf of the agent.

Stdlib only (python >= 3.8) and self-contained: kernels have some python3, not this repository.
    python3 path/to/kernel_runner/__main__.py (--socket PATH | --socket-fd N) --workdir DIR
        [--startup-command CMD] [--jupyter] [--await-setup]
With --socket-fd it serves on an inherited listening socket (the agent made it, so the kernel
needs no writable directory for it); with --socket it binds PATH itself.
(`python3 -m services.agent.kernel_runner ...` works too.)

Protocol: the requests and their replies are listed in runner_wire.py.
With --jupyter, query mode runs on a real Jupyter kernel when the image has one
(jupyter_kernel.py; started in the background unless --startup-command is given), one cell at a
time. Otherwise executions run one at a time in the main thread (runner_exec.py); a timeout <= 0
means no limit. Apps and tunnels: runner_apps.py.
With --startup-command the runner runs that command once and exits with its exit code (batch
sessions); it still answers requests meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

# (request, where to put the reply); a None reply queue means "exit with request['code']".
_jobs: queue.Queue[tuple[dict[str, Any], queue.Queue[dict[str, Any]] | None]] = queue.Queue()
_jupyter: Any = None  # the session's Jupyter kernel (jupyter_kernel.JupyterKernel), if any
_workdir = ""  # the kernel's work directory (user code may chdir away from it)
_restarting = threading.Event()
_server: socket.socket | None = None  # the listening socket, handed on across a restart
_awaiting_setup = threading.Event()  # pre-started: no session's environment yet
_jupyter_wanted = False
# Set once the Jupyter kernel's start is over (it answers, or failed), or when none is starting:
# the agent's "ready" request waits for it (the session's CPU quota comes then).
_start_over = threading.Event()
# The Jupyter start a setup asked for, begun once the setup's reply is out (its thread would
# otherwise hold the GIL while the reply waits).
_after_setup: list[threading.Thread] = []
# How many times this kernel's runner restarted in place (carried in the environment).
_GENERATION_ENV = "SHIPYARD_RUNNER_GENERATION"
_generation = int(os.environ.pop(_GENERATION_ENV, "0") or 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kernel_runner")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket")
    where.add_argument("--socket-fd", type=int)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--startup-command", default="")
    # Containers: a file to create when the OOM killer ended the runner (engines on cgroup v1
    # often do not report it, and only a process inside still sees the container's cgroup).
    parser.add_argument("--oom-flag", default="")
    parser.add_argument("--jupyter", action="store_true", help="query mode on a Jupyter kernel")
    parser.add_argument("--await-setup", action="store_true", help="pre-started: wait for setup")
    args = parser.parse_args(argv)
    if os.getpid() == 1:
        _sibling("runner_init").become_init(args.oom_flag)
    global _workdir
    workdir = _workdir = str(Path(args.workdir).resolve())
    os.chdir(workdir)
    os.environ["HOME"] = workdir
    sys.path[0] = workdir  # user modules in the work dir, not the runner's own directory
    runner = _sibling("runner_exec")
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGALRM, runner.on_alarm)
    global _server, _jupyter_wanted
    wire = _sibling("runner_wire")
    server = _server = wire.listen(args.socket) if args.socket else wire.adopt(args.socket_fd)
    _jupyter_wanted = args.jupyter
    if args.await_setup:
        _awaiting_setup.set()  # the Jupyter kernel would copy an environment not yet given
        if args.jupyter:  # what the start loads anyway, off the hand-out's path
            with contextlib.suppress(ImportError):
                _sibling("jupyter_kernel")
                importlib.import_module("zmq")  # the kernelspec (JUPYTER_PATH) waits for setup
    elif args.jupyter:
        warm_up = _start_jupyter(workdir, eager=not args.startup_command)
        if warm_up is not None:
            warm_up.start()
    else:
        _start_over.set()
    threading.Thread(target=wire.accept_loop, args=(server, _serve), daemon=True).start()
    if args.startup_command:
        threading.Thread(target=_run_startup, args=(args.startup_command,), daemon=True).start()
    while True:
        request, reply = _jobs.get()
        if reply is None:
            _exit(int(request["code"]))
        try:
            reply.put(runner.execute(request))
        except Exception as exc:  # e.g. /bin/sh missing: answer, but keep the kernel alive
            reply.put({"error": f"{type(exc).__name__}: {exc}"})


def _serve(conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError, ValueError):
        while (request := _recv(conn)) is not None:
            op = request.get("op") if isinstance(request, dict) else None
            if _awaiting_setup.is_set() and op not in ("ping", "setup"):
                _send(conn, {"error": "this kernel has no session yet"})
                continue
            if isinstance(request, dict) and request.get("op") == "tunnel":
                _sibling("runner_apps").tunnel(conn, request.get("port"), _send)
                return
            if isinstance(request, dict) and request.get("op") == "pty":
                _sibling("pty_session").serve(conn, request, _recv, _send)
                return
            reply = _dispatch(request, conn)
            if not reply:  # a live session that ended with the connection
                return
            try:
                _send(conn, reply)
            finally:
                if op == "setup" and _after_setup:
                    _after_setup.pop().start()


def _sibling(name: str) -> Any:
    """A module next to this file (the runner runs as a lone script, not as a package)."""
    if f"_runner_{name}" in sys.modules:
        return sys.modules[f"_runner_{name}"]
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_runner_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _start_jupyter(workdir: str, *, eager: bool) -> threading.Thread | None:
    """The session's Jupyter kernel; with `eager`, the thread that starts it, for the caller to
    start."""
    global _jupyter
    jupyter = _sibling("jupyter_kernel")
    if not jupyter.available():
        _start_over.set()
        return None  # no Jupyter kernel in this image: query mode runs in this interpreter

    def died(code: int) -> None:  # the notebook kernel is the kernel: end with it
        _jobs.put(({"code": code}, None))

    _jupyter = jupyter.JupyterKernel(workdir, died)
    if eager:
        return threading.Thread(target=_warm_up, daemon=True)
    _start_over.set()  # a batch session's: it starts on its first query cell, if one comes
    return None


def _warm_up() -> None:
    try:
        with contextlib.suppress(Exception):  # a failed start is reported by the first execution
            _jupyter.start()
    finally:
        _start_over.set()


def _serve_session(conn: socket.socket) -> None:
    live = _sibling("live")
    live.LiveSession(lambda m: _send(conn, m), lambda: _recv(conn), _jupyter, _dispatch).serve()


def _dispatch(request: object, conn: socket.socket | None = None) -> dict[str, Any]:
    op = request.get("op") if isinstance(request, dict) else None
    if op == "ping":
        return {"ok": True, "generation": _generation}
    if op == "setup" and isinstance(request, dict):
        return _setup(request.get("environ"))
    if op == "ready":
        _start_over.wait()
        return {"ok": True}
    if op == "restart":
        _restarting.set()  # a startup command killed now must not end the kernel
        stop = _jupyter.stop if _jupyter is not None else None
        restart = _sibling("runner_init").restart
        args = (stop, _sibling("runner_exec").kill_all, _server, _workdir, _generation + 1)
        threading.Thread(target=restart, args=args, daemon=True).start()
        return {"ok": True, "generation": _generation + 1}
    if op == "interrupt":
        if _jupyter is not None:
            _jupyter.interrupt()
        _sibling("runner_exec").interrupt()  # batch commands, and query cells without Jupyter
        return {"ok": True}
    if op == "complete" and isinstance(request, dict):
        return _complete(request)
    if op == "session" and conn is not None:
        _serve_session(conn)
        return {}
    if op == "execute" and isinstance(request, dict) and _on_jupyter(request):
        return _query_on_jupyter(request["code"], float(request["timeout"]))
    if op == "execute" and isinstance(request, dict):
        reply: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1)
        _jobs.put((request, reply))
        return reply.get()
    if op == "start_app" and isinstance(request, dict):
        return dict(_sibling("runner_apps").start_app(request, _sibling("runner_exec").app_groups))
    if op in ("files_list", "files_read", "files_write") and isinstance(request, dict):
        return dict(_sibling("workdir_files").handle(request, _workdir))
    return {"error": f"unknown request {op!r}"}


def _setup(environ: object) -> dict[str, Any]:
    """The session's environment and ids, before any of its code runs (a pre-started runner)."""
    if not _awaiting_setup.is_set():
        return {"error": "this kernel is set up already"}
    if not _sibling("runner_init").take_environ(environ, _workdir):
        return {"error": "setup needs 'environ', an object of strings"}
    _awaiting_setup.clear()
    if _jupyter_wanted:
        warm_up = _start_jupyter(_workdir, eager=True)
        _after_setup.extend([warm_up] if warm_up is not None else [])
    else:
        _start_over.set()
    return {"ok": True}


def _complete(request: dict[str, Any]) -> dict[str, Any]:
    code, pos = request.get("code"), request.get("cursor_pos")
    if not isinstance(code, str) or not isinstance(pos, int) or not 0 <= pos <= len(code):
        return {"error": "complete needs a string 'code' and an int 'cursor_pos' within it"}
    if _jupyter is not None:
        with _jupyter.lock:
            return dict(_jupyter.complete(code, pos))
    return dict(_sibling("runner_exec").complete(code, pos))


def _query_on_jupyter(code: str, timeout: float) -> dict[str, Any]:
    collected = _sibling("live").Collected()
    try:
        with _jupyter.lock:
            return dict(collected.reply(_jupyter.run(code, timeout, collected, None)))
    except _sibling("jupyter_kernel").KernelGone:
        threading.Event().wait()  # the runner is exiting with the kernel's code: no reply
        raise
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _on_jupyter(request: dict[str, Any]) -> bool:
    valid = isinstance(request.get("code"), str) and isinstance(
        request.get("timeout"), (int, float)
    )
    return _jupyter is not None and request.get("mode") == "query" and valid


def _recv(conn: socket.socket) -> object:
    return _sibling("runner_wire").recv(conn)


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    _sibling("runner_wire").send(conn, message)


def _run_startup(command: str) -> None:
    # Its own process group, killed with the runner's apps (on SIGTERM and on a restart).
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, start_new_session=True
    )
    runner = _sibling("runner_exec")
    runner.app_groups.add(proc.pid)
    code = runner.exit_code(proc.wait())
    if not _restarting.is_set():  # a restart killed it: the new runner runs it again
        _jobs.put(({"code": code}, None))


def _on_sigterm(signum: int, _frame: FrameType | None) -> NoReturn:
    _sibling("runner_exec").kill_all()
    _exit(128 + signum)


def _exit(code: int) -> NoReturn:
    if _jupyter is not None:
        with contextlib.suppress(Exception):
            _jupyter.stop()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
