"""Shipyard kernel runner: runs code inside a kernel on behalf of the agent.

Stdlib only (python >= 3.8) and self-contained: kernels have some python3, not this repository.
    python3 path/to/kernel_runner/__main__.py (--socket PATH | --socket-fd N) --workdir DIR
        [--startup-command CMD]
With --socket-fd it serves on an inherited listening socket (the agent made it, so the kernel
needs no writable directory for it); with --socket it binds PATH itself.
(`python3 -m services.agent.kernel_runner ...` works too.)

Protocol, on a unix stream socket: every message is a 4-byte big-endian length followed by that
many bytes of UTF-8 JSON (an object). A connection may carry any number of requests; each gets
exactly one reply, in order.
    {"op": "ping"}  ->  {"ok": true, "generation": int}
    {"op": "restart"}  ->  {"ok": true, "generation": int}, then the runner ends its Jupyter kernel,
        batch commands and apps and execs itself afresh (same sandbox or container, same work
        dir, same listening socket); the new one answers pings with that generation
    {"op": "execute", "mode": "query" | "batch", "code": str, "timeout": float}
        ->  {"status": "finished" | "failed" | "timed_out", "stdout": str, "stderr": str,
             "exit_code": int, "error_name": str, "error_message": str,
             "displays": [{"data": {mime: str}, "result": bool}], "truncated": bool}
    {"op": "interrupt"}  ->  {"ok": true}   (stops the running query cell and batch commands)
    {"op": "complete", "code": str, "cursor_pos": int}
        ->  {"matches": [str], "cursor_start": int, "cursor_end": int}
    {"op": "session"}  ->  {"ok": true}, then the connection is a live session (live.py)
    {"op": "start_app", "name": str, "port": int, "argv": [str], "timeout": float}
        ->  {"ok": true} once something listens on 127.0.0.1:port in the kernel (argv, with
            "{python}" meaning this interpreter, started in its own process group with $PORT
            set, unless an app of that name still runs)
    {"op": "tunnel", "port": int}  ->  {"ok": true}, then the connection carries raw bytes to
        and from 127.0.0.1:port in the kernel (how the agent reaches an app in the sandbox)
    {"op": "pty", "rows": int, "cols": int}  ->  a terminal on this connection (pty_session.py)
    {"op": "files_list" | "files_read" | "files_write", ...}  ->  files beneath the work dir
        (workdir_files.py)
    anything malformed  ->  {"error": str}
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
import importlib.util
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

MAX_MESSAGE = 64 << 20

# (request, where to put the reply); a None reply queue means "exit with request['code']".
_jobs: queue.Queue[tuple[dict[str, Any], queue.Queue[dict[str, Any]] | None]] = queue.Queue()
_jupyter: Any = None  # the session's Jupyter kernel (jupyter_kernel.JupyterKernel), if any
_workdir = ""  # the kernel's work directory (user code may chdir away from it)
_restarting = threading.Event()
_server: socket.socket | None = None  # the listening socket, handed on across a restart
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
    global _server
    server = _server = _listen(args.socket) if args.socket else _adopt(args.socket_fd)
    if args.jupyter:
        _start_jupyter(workdir, eager=not args.startup_command)
    threading.Thread(target=_accept_loop, args=(server,), daemon=True).start()
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


def _adopt(fd: int) -> socket.socket:
    server = socket.socket(fileno=fd)
    server.set_inheritable(False)  # not for the user's commands
    return server


def _listen(path: str) -> socket.socket:
    Path(path).unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    Path(path).chmod(0o600)
    server.listen(16)
    return server


def _accept_loop(server: socket.socket) -> None:
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


def _serve(conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError, ValueError):
        while (request := _recv(conn)) is not None:
            if isinstance(request, dict) and request.get("op") == "tunnel":
                _sibling("runner_apps").tunnel(conn, request.get("port"), _send)
                return
            if isinstance(request, dict) and request.get("op") == "pty":
                _sibling("pty_session").serve(conn, request, _recv, _send)
                return
            reply = _dispatch(request, conn)
            if not reply:  # a live session that ended with the connection
                return
            _send(conn, reply)


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


def _start_jupyter(workdir: str, *, eager: bool) -> None:
    global _jupyter
    jupyter = _sibling("jupyter_kernel")
    if not jupyter.available():
        return  # no Jupyter kernel in this image: query mode runs in this interpreter

    def died(code: int) -> None:  # the notebook kernel is the kernel: end with it
        _jobs.put(({"code": code}, None))

    _jupyter = jupyter.JupyterKernel(workdir, died)
    if eager:
        threading.Thread(target=_warm_up, daemon=True).start()


def _warm_up() -> None:
    with contextlib.suppress(Exception):  # a failed start is reported by the first execution
        _jupyter.start()


def _serve_session(conn: socket.socket) -> None:
    live = _sibling("live")
    live.LiveSession(lambda m: _send(conn, m), lambda: _recv(conn), _jupyter, _dispatch).serve()


def _dispatch(request: object, conn: socket.socket | None = None) -> dict[str, Any]:
    op = request.get("op") if isinstance(request, dict) else None
    if op == "ping":
        return {"ok": True, "generation": _generation}
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
    header = _recv_exact(conn, 4)
    if header is None:
        return None
    (size,) = struct.unpack(">I", header)
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes is too large")
    body = _recv_exact(conn, size)
    if body is None:
        return None
    return json.loads(body)


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < size:
        chunk = conn.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    conn.sendall(struct.pack(">I", len(body)) + body)


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
