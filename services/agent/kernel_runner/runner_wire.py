"""The runner's side of its unix socket (`__main__.py` loads this file): the listening socket,
one thread per connection, and the framing.

Protocol, on a unix stream socket: every message is a 4-byte big-endian length followed by that
many bytes of UTF-8 JSON (an object). A connection may carry any number of requests; each gets
exactly one reply, in order.
    {"op": "ping"}  ->  {"ok": true, "generation": int}
    {"op": "setup", "environ": {str: str}}  ->  {"ok": true}   (--await-setup only: the runner
        was pre-started; this is its session's environment, which replaces its own, and until it
        comes every request but ping is refused; the Jupyter kernel starts after it)
    {"op": "ready"}  ->  {"ok": true} once the runner's start is over: its Jupyter kernel answers
        or failed to start, or none is starting (the agent sets a session's CPU quota then)
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

Stdlib only.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # kernels may have a python older than these annotations
    from collections.abc import Callable

MAX_MESSAGE = 64 << 20


def adopt(fd: int) -> socket.socket:
    """The listening socket the agent made and passed in as an open fd."""
    server = socket.socket(fileno=fd)
    server.set_inheritable(False)  # not for the user's commands
    return server


def listen(path: str) -> socket.socket:
    Path(path).unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    Path(path).chmod(0o600)
    server.listen(16)
    return server


def accept_loop(server: socket.socket, serve: Callable[[socket.socket], None]) -> None:
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def recv(conn: socket.socket) -> object:
    """The next message, or None once the peer closed the connection."""
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


def send(conn: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    conn.sendall(struct.pack(">I", len(body)) + body)


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < size:
        chunk = conn.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)
