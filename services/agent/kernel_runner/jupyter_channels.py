"""The ZeroMQ channels to one Jupyter kernel (`jupyter_kernel.py` loads this file): shell, stdin
and control as DEALER sockets, iopub as a SUB socket, every message signed with the kernel's key
(jupyter_support.py). pyzmq is imported only here, when a kernel starts.

Stdlib only apart from pyzmq.
"""

from __future__ import annotations

import importlib
import time
from typing import Any


class Channels:
    def __init__(self, ports: dict[str, Any], key: bytes, session: str, support: Any) -> None:
        """Connect to the kernel's `<channel>_port`s on 127.0.0.1; `support` is the loaded
        jupyter_support module (it signs and checks the messages)."""
        self._zmq = importlib.import_module("zmq")
        self._s = support
        self._key, self._session = key, session
        self._sockets: dict[str, Any] = {}
        ctx = self._zmq.Context.instance()
        # The kernel's stdin ROUTER silently drops an input_request for a peer it has not met
        # yet, and the cell then waits in input() forever: the handshake is watched, see
        # wait_stdin.
        joined = getattr(self._zmq, "EVENT_HANDSHAKE_SUCCEEDED", self._zmq.EVENT_CONNECTED)
        self._stdin_monitor: Any = None
        for name, kind in (("shell", "DEALER"), ("stdin", "DEALER"), ("control", "DEALER")):
            sock = ctx.socket(getattr(self._zmq, kind))
            sock.setsockopt(self._zmq.LINGER, 0)
            sock.setsockopt(self._zmq.IDENTITY, session.encode())
            if name == "stdin":
                self._stdin_monitor = sock.get_monitor_socket(joined)
            sock.connect(f"tcp://127.0.0.1:{ports[name + '_port']}")
            self._sockets[name] = sock
        iopub = ctx.socket(self._zmq.SUB)
        iopub.setsockopt(self._zmq.LINGER, 0)
        iopub.setsockopt(self._zmq.SUBSCRIBE, b"")
        iopub.connect(f"tcp://127.0.0.1:{ports['iopub_port']}")
        self._sockets["iopub"] = iopub
        # One poller for every wait of every cell (a cell waits for about five messages).
        self._poller = self._zmq.Poller()
        self._names: dict[Any, str] = {}
        for name in ("shell", "iopub", "stdin"):
            self._poller.register(self._sockets[name], self._zmq.POLLIN)
            self._names[self._sockets[name]] = name

    def wait_stdin(self, seconds: float) -> bool:
        """Wait until the stdin channel's handshake with the kernel is done; False if it did not
        happen within `seconds`. Only the first call waits."""
        monitor = self._stdin_monitor
        if monitor is None:
            return True
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if monitor.poll(int(left * 1000)):
                monitor.recv_multipart()  # the one event subscribed to: the handshake
                self._stop_monitor()
                return True
        return False

    def _stop_monitor(self) -> None:
        if self._stdin_monitor is not None:
            self._sockets["stdin"].disable_monitor()
            self._stdin_monitor.close(0)
            self._stdin_monitor = None

    def close(self) -> None:
        self._stop_monitor()
        for sock in self._sockets.values():
            sock.close(0)
        self._sockets = {}
        self._names = {}

    def poll(self, seconds: float) -> list[tuple[str, int]]:
        """The channels (shell, iopub, stdin) with a message within `seconds`."""
        return [(self._names[s], ev) for s, ev in self._poller.poll(int(seconds * 1000))]

    def drain(self, name: str) -> None:
        while self._sockets[name].poll(0):
            self._sockets[name].recv_multipart()

    def send(self, channel: str, msg_type: str, content: dict[str, Any], parent: Any = None) -> str:
        frames, msg_id = self._s.signed(self._key, self._session, msg_type, content, parent)
        self._sockets[channel].send_multipart(frames)
        return str(msg_id)

    def recv(self, channel: str) -> dict[str, Any] | None:
        """The next message on `channel`; None when its signature does not check out."""
        frames = self._sockets[channel].recv_multipart()
        got: dict[str, Any] | None = self._s.verified(self._key, frames)
        return got
