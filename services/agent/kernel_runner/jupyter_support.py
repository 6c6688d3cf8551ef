"""Jupyter helpers for the runner's notebook kernel (`jupyter_kernel.py` loads this file).

Stdlib only: finding a kernelspec, and turning Jupyter messages into the runner's events.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib
import json
import os
import re
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # kernels may have a python older than these annotations
    from collections.abc import Callable

    # An event for the caller: {"event": "stdout" | "stderr" | "display" | "input_request"}.
    Emit = Callable[[dict[str, Any]], None]

KERNEL_DIRS = ("share/jupyter/kernels",)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Run silently once the kernel is up. ipykernel's streams before 6.25 lack `.buffer`, which
# programs writing bytes to sys.stdout.buffer need; this gives them one.
# Output written to the file descriptors 1 and 2 (os.write, os.system, C code) reaches ipykernel
# through a pipe a thread of its own reads; a cell could end before that thread had read it, and
# the output then came after the cell's idle status, where the runner no longer looks (the next
# cell drains it). So after each cell the kernel waits, up to 1 s, until each pipe (`_fid`,
# where ipykernel's streams have one) is empty and its thread is back in read() on it: an empty
# pipe alone also meant "read, not yet passed on", and on a loaded machine the thread could sit
# there past the cell's end. A cell that wrote nothing there costs an ioctl and a read of
# /proc/self/task/<thread>/syscall per stream; where that file cannot be read, an empty pipe and
# 1 ms more have to do.
PYTHON_SETUP = """
def _shipyard_streams():
    import fcntl, struct, sys, termios, time
    class Buffer:
        def __init__(self, stream):
            self._stream = stream
        def write(self, data):
            self._stream.write(bytes(data).decode("utf-8", "replace"))
            return len(data)
        def flush(self):
            self._stream.flush()
        def writable(self):
            return True
    for stream in (sys.stdout, sys.stderr):
        if not hasattr(stream, "buffer"):
            stream.buffer = Buffer(stream)
    piped = [s for s in (sys.stdout, sys.stderr) if isinstance(getattr(s, "_fid", None), int)]
    def passed_on(stream):
        fd = stream._fid
        if struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\\0\\0\\0\\0"))[0]:
            return False
        try:  # "<syscall> <first argument> ...": waiting in read(fd) shows fd first
            path = "/proc/self/task/%d/syscall" % stream.watch_fd_thread.native_id
            with open(path) as f:
                return f.read().split()[1:2] == [hex(fd)]
        except (AttributeError, OSError):
            return None
    def drain_fd_output(*_):
        deadline = time.monotonic() + 1.0
        blind = False  # a thread we cannot see: when its pipe got empty, give it 1 ms more
        for stream in piped:
            done = passed_on(stream)
            while done is False and time.monotonic() < deadline:
                time.sleep(0.0002)
                done = passed_on(stream)
                blind = blind or done is None
        if blind:
            time.sleep(0.001)
    if piped:
        get_ipython().events.register("post_execute", drain_fd_output)
_shipyard_streams()
del _shipyard_streams
"""


def find_kernelspec(name: str = "") -> dict[str, Any] | None:
    """The kernel.json of kernel `name` (default: python3, else the first one found)."""
    found: dict[str, dict[str, Any]] = {}
    for base in _data_dirs():
        for rel in KERNEL_DIRS:
            root = Path(base) / rel
            with contextlib.suppress(OSError):
                for spec_file in sorted(root.glob("*/kernel.json")):
                    with contextlib.suppress(OSError, ValueError):
                        spec = json.loads(spec_file.read_text())
                        if isinstance(spec, dict) and spec.get("argv"):
                            found.setdefault(spec_file.parent.name, spec)
    if name:
        return found.get(name)
    return found.get("python3") or next(iter(found.values()), None)


def _data_dirs() -> list[str]:
    dirs = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    dirs = [str(Path(p).parent.parent) if p.endswith("kernels") else p for p in dirs]
    return [*dirs, sys.prefix, "/usr/local", "/usr"]


def available() -> bool:
    """Whether this python can drive a Jupyter kernel here (pyzmq and a kernelspec)."""
    try:
        importlib.import_module("zmq")
    except ImportError:
        return False
    return find_kernelspec() is not None


def parent(msg: dict[str, Any] | None) -> str:
    return str((msg or {}).get("parent_header", {}).get("msg_id", ""))


def forward(kind: str, body: dict[str, Any], emit: Emit) -> None:
    if kind == "stream":
        name = "stderr" if body.get("name") == "stderr" else "stdout"
        emit({"event": name, "text": str(body.get("text", ""))})
    elif kind in ("execute_result", "display_data", "update_display_data"):
        data = {str(k): _text(v) for k, v in (body.get("data") or {}).items()}
        emit({"event": "display", "data": data, "result": kind == "execute_result"})


def _text(value: Any) -> str:
    """Jupyter sends text and base64 (images) as strings, JSON types (application/json) as is."""
    return value if isinstance(value, str) else json.dumps(value)


def plain(text: str) -> str:
    return _ANSI.sub("", text)


def outcome(
    reply: dict[str, Any], error: dict[str, Any], timed_out: bool, timeout: float
) -> dict[str, Any]:
    if timed_out:
        message = f"timed out after {timeout:g}s"
        return {"status": "timed_out", "exit_code": 1, "error_name": "TimeoutError",
                "error_message": message}  # fmt: skip
    if reply.get("status", "error") != "ok":
        name = str(error.get("ename") or reply.get("ename") or "Error")
        message = str(error.get("evalue") or reply.get("evalue") or "")
        return {"status": "failed", "exit_code": 1, "error_name": name, "error_message": message}
    return {"status": "finished", "exit_code": 0, "error_name": "", "error_message": ""}


def unanswered(interrupted: bool) -> dict[str, Any]:
    """The reply for a cell the kernel finished without one: ipykernel drops the execute_reply
    when a KeyboardInterrupt hits its own code (the output flush after the cell, the cell's
    start), so an interrupt at a cell's very edge left the runner waiting for ever."""
    if interrupted:
        return {"status": "error", "ename": "KeyboardInterrupt", "evalue": ""}
    return {"status": "error", "ename": "Error", "evalue": "the Jupyter kernel sent no reply"}


def free_ports(count: int) -> list[int]:
    held = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


_DELIM = b"<IDS|MSG>"


def signed(
    key: bytes, session: str, msg_type: str, content: dict[str, Any], parent: Any = None
) -> tuple[list[bytes], str]:
    """The frames of one Jupyter message signed with `key` (HMAC-SHA256), and its id."""
    msg_id = uuid.uuid4().hex
    header = {
        "msg_id": msg_id,
        "msg_type": msg_type,
        "session": session,
        "username": "shipyard",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "version": "5.3",
    }
    parts = [json.dumps(p).encode() for p in (header, parent or {}, {}, content)]
    signature = hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest()
    return [_DELIM, signature.encode(), *parts], msg_id


def verified(key: bytes, frames: list[bytes]) -> dict[str, Any] | None:
    """A received message whose signature checks out; None otherwise."""
    try:
        parts = frames[frames.index(_DELIM) + 1 :]
    except ValueError:
        return None
    signature, body = parts[0], parts[1:5]
    expected = hmac.new(key, b"".join(body), hashlib.sha256).hexdigest().encode()
    if len(body) < 4 or not hmac.compare_digest(signature, expected):
        return None
    header, parent, _meta, content = (json.loads(p) for p in body)
    return {"header": header, "parent_header": parent, "content": content}
