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
    {"op": "ping"}  ->  {"ok": true}
    {"op": "execute", "mode": "query" | "batch", "code": str, "timeout": float}
        ->  {"status": "finished" | "failed" | "timed_out", "stdout": str, "stderr": str,
             "exit_code": int, "error_name": str, "error_message": str,
             "displays": [{"data": {mime: str}, "result": bool}], "truncated": bool}
    {"op": "interrupt"}  ->  {"ok": true}   (stops the running query cell on a Jupyter kernel)
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
time. Otherwise executions run one at a time in the main thread (SIGALRM can only interrupt that
one); a timeout <= 0 means no limit. Query mode keeps one interpreter namespace across calls.
Batch mode runs `/bin/sh -c code` in the work dir in its own process group, killed on timeout.
With --startup-command the runner runs that command once and exits with its exit code (batch
sessions); it still answers requests meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

MAX_MESSAGE = 64 << 20
MAX_OUTPUT = 256 << 10  # per stream; more is cut so a reply fits the edge's buffers

# (request, where to put the reply); a None reply queue means "exit with request['code']".
_jobs: queue.Queue[tuple[dict[str, Any], queue.Queue[dict[str, Any]] | None]] = queue.Queue()
_batch_groups: set[int] = set()  # process groups of running batch commands
_armed = False  # True while query code runs: only then may SIGALRM interrupt it
_jupyter: Any = None  # the session's Jupyter kernel (jupyter_kernel.JupyterKernel), if any
_apps: dict[str, subprocess.Popen[bytes]] = {}  # service apps by name
_apps_lock = threading.Lock()
_workdir = ""  # the kernel's work directory (user code may chdir away from it)


class _Timeout(BaseException):
    """Raised into query code by SIGALRM; a BaseException so `except Exception` cannot eat it."""


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
        _become_init(args.oom_flag)
    global _workdir
    workdir = _workdir = str(Path(args.workdir).resolve())
    os.chdir(workdir)
    os.environ["HOME"] = workdir
    sys.path[0] = workdir  # user modules in the work dir, not the runner's own directory
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGALRM, _on_alarm)
    server = _listen(args.socket) if args.socket else _adopt(args.socket_fd)
    if args.jupyter:
        _start_jupyter(workdir, eager=not args.startup_command)
    threading.Thread(target=_accept_loop, args=(server,), daemon=True).start()
    if args.startup_command:
        threading.Thread(target=_run_startup, args=(args.startup_command,), daemon=True).start()
    namespace: dict[str, Any] = {"__name__": "__main__"}
    while True:
        request, reply = _jobs.get()
        if reply is None:
            _exit(int(request["code"]))
        try:
            reply.put(_execute(request, namespace))
        except Exception as exc:  # e.g. /bin/sh missing: answer, but keep the kernel alive
            reply.put({"error": f"{type(exc).__name__}: {exc}"})


def _become_init(oom_flag: str = "") -> None:
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
                _tunnel(conn, request.get("port"))
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
        return {"ok": True}
    if op == "interrupt":
        if _jupyter is not None:
            _jupyter.interrupt()
        return {"ok": True}
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
        return _start_app(request)
    if op in ("files_list", "files_read", "files_write") and isinstance(request, dict):
        return dict(_sibling("workdir_files").handle(request, _workdir))
    return {"error": f"unknown request {op!r}"}


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


def _start_app(request: dict[str, Any]) -> dict[str, Any]:
    name, port, argv = request.get("name"), request.get("port"), request.get("argv")
    timeout = request.get("timeout", 15)
    if not isinstance(name, str) or not isinstance(port, int) or not isinstance(argv, list):
        return {"error": "start_app needs a string 'name', an int 'port' and a list 'argv'"}
    with _apps_lock:
        proc = _apps.get(name)
        if proc is None or proc.poll() is not None:
            env = dict(os.environ, PORT=str(port))
            try:
                proc = subprocess.Popen(
                    [sys.executable if a == "{python}" else str(a) for a in argv],
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                return {"error": f"app {name!r} did not start: {exc}"}
            _apps[name] = proc
            _batch_groups.add(proc.pid)  # killed with the runner
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return {"error": f"app {name!r} exited with code {_exit_code(proc.returncode)}"}
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return {"ok": True}
        time.sleep(0.05)
    return {"error": f"app {name!r} is not listening on port {port} after {timeout}s"}


def _tunnel(conn: socket.socket, port: object) -> None:
    """Answer, then copy bytes both ways between `conn` and the app until either side ends."""
    if not isinstance(port, int):
        _send(conn, {"error": "tunnel needs an int 'port'"})
        return
    try:
        upstream = socket.create_connection(("127.0.0.1", port), 5)
    except OSError as exc:
        _send(conn, {"error": f"nothing listens on port {port}: {exc}"})
        return
    upstream.settimeout(None)
    _send(conn, {"ok": True})
    with upstream:
        back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        back.start()
        _pump(conn, upstream)
        back.join()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


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


def _execute(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    mode, code, timeout = request.get("mode"), request.get("code"), request.get("timeout", 0)
    if not isinstance(code, str) or not isinstance(timeout, (int, float)):
        return {"error": "execute needs a string 'code' and a numeric 'timeout'"}
    if mode == "query":
        return _run_query(code, float(timeout), namespace)
    if mode == "batch":
        return _run_batch(code, float(timeout))
    return {"error": f"unknown mode {mode!r}"}


def _run_query(code: str, timeout: float, namespace: dict[str, Any]) -> dict[str, Any]:
    global _armed
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                _armed = True
                if timeout > 0:
                    signal.setitimer(signal.ITIMER_REAL, timeout)
                exec(compile(code, "<cell>", "exec"), namespace)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                _armed = False
    except _Timeout:
        err.write(f"TimeoutError: execution timed out after {timeout:g}s\n")
        return _result("timed_out", out, err, 1, "TimeoutError", f"timed out after {timeout:g}s")
    except BaseException as exc:
        # Drop this function's frame: the user only needs the frames of their own cell.
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        err.write("".join(traceback.format_exception(type(exc), exc, tb)))
        return _result("failed", out, err, 1, type(exc).__name__, str(exc))
    return _result("finished", out, err, 0)


def _run_batch(code: str, timeout: float) -> dict[str, Any]:
    proc = subprocess.Popen(
        ["/bin/sh", "-c", code],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # so a timeout can kill everything the command started
    )
    _batch_groups.add(proc.pid)
    timed_out = False
    try:
        try:
            out, err = proc.communicate(timeout=timeout if timeout > 0 else None)
        except subprocess.TimeoutExpired:
            timed_out = True
            _killpg(proc.pid)
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # something outside the group holds the pipes
                out, err = b"", b""
    finally:
        _killpg(proc.pid)
        proc.kill()
        proc.wait()
        _batch_groups.discard(proc.pid)
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    code_ = _exit_code(proc.returncode)
    if timed_out:
        message = f"timed out after {timeout:g}s"
        return _result("timed_out", stdout, stderr, code_, "TimeoutError", message)
    if code_ != 0:
        message = f"command exited with code {code_}"
        return _result("failed", stdout, stderr, code_, "", message)
    return _result("finished", stdout, stderr, 0)


def _run_startup(command: str) -> None:
    # Same process group as the runner: whoever stops the kernel stops the command too.
    proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL)
    _jobs.put(({"code": _exit_code(proc.wait())}, None))


def _result(
    status: str,
    out: io.StringIO | str,
    err: io.StringIO | str,
    exit_code: int,
    error_name: str = "",
    error_message: str = "",
) -> dict[str, Any]:
    stdout = out.getvalue() if isinstance(out, io.StringIO) else out
    stderr = err.getvalue() if isinstance(err, io.StringIO) else err
    return {
        "status": status,
        "stdout": _clip(stdout),
        "stderr": _clip(stderr),
        "exit_code": exit_code,
        "error_name": error_name,
        "error_message": _clip(error_message),
        "truncated": max(len(stdout), len(stderr)) > MAX_OUTPUT,
    }


def _clip(text: str) -> str:
    if len(text) <= MAX_OUTPUT:
        return text
    return text[:MAX_OUTPUT] + f"\n[output truncated: {len(text) - MAX_OUTPUT} more characters]\n"


def _exit_code(returncode: int) -> int:
    """Shell convention: death by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    if _armed:
        raise _Timeout


def _on_sigterm(signum: int, _frame: FrameType | None) -> NoReturn:
    for pgid in list(_batch_groups):
        _killpg(pgid)
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
