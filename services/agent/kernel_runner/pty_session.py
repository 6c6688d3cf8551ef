"""A terminal in the kernel: a shell on a new PTY, relayed over one runner connection.

Stdlib only, loaded by the runner from its own directory (see `__main__.py`). After the request
    {"op": "pty", "rows": int, "cols": int}  ->  {"ok": true}
the connection carries length-prefixed JSON frames both ways until the shell ends:
    to the runner:   {"data": base64}  keystrokes     {"resize": [rows, cols]}
    from the runner: {"data": base64}  output, then   {"exit": code}  (128 + N for signal N)
The caller closing its side hangs up the terminal (SIGHUP to the shell's session).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import pty
import shutil
import signal
import socket
import struct
import termios
import threading
from collections.abc import Callable
from typing import Any

Recv = Callable[[socket.socket], object]
Send = Callable[[socket.socket, dict[str, Any]], None]
DEFAULT_SIZE = (24, 80)
READ_CHUNK = 64 << 10


def serve(conn: socket.socket, request: dict[str, Any], recv: Recv, send: Send) -> None:
    rows, cols = _size(request.get("rows"), request.get("cols")) or DEFAULT_SIZE
    argv = _shell()
    pid, master = pty.fork()
    if pid == 0:  # the child: the PTY's slave is its stdin/stdout/stderr and controlling tty
        try:
            _set_size(0, rows, cols)
            os.environ["TERM"] = os.environ.get("TERM") or "xterm-256color"
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    send(conn, {"ok": True})
    threading.Thread(target=_relay_input, args=(conn, master, pid, recv), daemon=True).start()
    with contextlib.suppress(OSError):
        while True:
            chunk = os.read(master, READ_CHUNK)  # EIO once every process left the terminal
            if not chunk:
                break
            send(conn, {"data": base64.b64encode(chunk).decode()})
    _, status = os.waitpid(pid, 0)
    code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    with contextlib.suppress(OSError):
        send(conn, {"exit": code})
    os.close(master)


def _relay_input(conn: socket.socket, master: int, pid: int, recv: Recv) -> None:
    try:
        while True:
            frame = recv(conn)
            if not isinstance(frame, dict):
                break
            data = frame.get("data")
            if isinstance(data, str):
                _write_all(master, base64.b64decode(data))
            resize = frame.get("resize")
            size = _size(*resize) if isinstance(resize, list) and len(resize) == 2 else None
            if size is not None:
                _set_size(master, *size)  # the kernel sends SIGWINCH to the foreground job
    except (OSError, ValueError):
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGHUP)  # the caller hung up


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _size(rows: object, cols: object) -> tuple[int, int] | None:
    if isinstance(rows, int) and isinstance(cols, int) and 0 < rows < 10000 and 0 < cols < 10000:
        return rows, cols
    return None


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _shell() -> list[str]:
    """bash when the kernel has it, else sh; interactive either way."""
    for name in ("bash", "sh"):
        found = shutil.which(name, path=os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin")
        if found:
            return [found, "-i"]
    return ["/bin/sh", "-i"]
