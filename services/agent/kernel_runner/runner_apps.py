"""Service apps in the kernel and byte tunnels to them (`__main__.py` loads this file).

Stdlib only. An app runs `argv` ("{python}" meaning this interpreter) in its own process group
with $PORT set; a tunnel copies raw bytes between the agent's connection and 127.0.0.1:port.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # kernels may have a python older than these annotations
    from collections.abc import Callable

    Send = Callable[[socket.socket, dict[str, Any]], None]

_apps: dict[str, subprocess.Popen[bytes]] = {}  # service apps by name
_apps_lock = threading.Lock()


def start_app(request: dict[str, Any], groups: set[int]) -> dict[str, Any]:
    """Start the app unless it runs; answer once it listens. `groups` gets its process group."""
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
            groups.add(proc.pid)  # killed with the runner
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            code = proc.returncode
            return {"error": f"app {name!r} exited with code {128 - code if code < 0 else code}"}
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return {"ok": True}
        time.sleep(0.05)
    return {"error": f"app {name!r} is not listening on port {port} after {timeout}s"}


def tunnel(conn: socket.socket, port: object, send: Send) -> None:
    """Answer, then copy bytes both ways between `conn` and the app until either side ends."""
    if not isinstance(port, int):
        send(conn, {"error": "tunnel needs an int 'port'"})
        return
    try:
        upstream = socket.create_connection(("127.0.0.1", port), 5)
    except OSError as exc:
        send(conn, {"error": f"nothing listens on port {port}: {exc}"})
        return
    upstream.settimeout(None)
    send(conn, {"ok": True})
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
