"""Live executions for the runner (`__main__.py` loads this file from its own directory).

Stdlib only. A connection that sends {"op": "session"} becomes a live session: the client sends
    {"op": "run", "mode": "query" | "batch", "code": str, "timeout": float}
    {"op": "input", "value": str}       the answer to the last input_request
    {"op": "interrupt"}                 stop the running cell; the kernel stays
    {"op": "complete", "code": str, "cursor_pos": int}
and the runner sends events as they happen, each one message:
    {"event": "stdout" | "stderr", "text": str}           (long text comes in several events)
    {"event": "display", "data": {mime: str}, "result": bool}  (result: the last expression's value)
    {"event": "input_request", "prompt": str, "password": bool}
    {"event": "finished", "status": ..., "exit_code": ..., "error_name": ..., "error_message": ...}
    {"event": "completion", "matches": [str], "cursor_start": int, "cursor_end": int}
    {"event": "error", "message": str}                    (a request it cannot serve)
Query runs stream only on a Jupyter kernel; without one (and in batch mode) the output of a run
arrives when it ends. Interrupt stops batch commands and plain query cells too; completion without
a Jupyter kernel uses the runner's own query namespace.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # kernels may have a python older than these annotations
    from collections.abc import Callable

    Send = Callable[[dict[str, Any]], None]
    Recv = Callable[[], Any]
    Execute = Callable[[dict[str, Any]], dict[str, Any]]

CHUNK = 64 << 10  # characters per stdout/stderr event
MAX_DISPLAY = 2 << 20  # bytes of one display's data; bigger ones are replaced by a note
# What a unary execute returns at most (the edge buffers whole replies): per stream, and the
# displays together.
MAX_TEXT = 128 << 10
MAX_DISPLAYS = 512 << 10


def bounded_display(data: dict[str, str]) -> dict[str, str]:
    size = sum(len(v) for v in data.values())
    if size <= MAX_DISPLAY:
        return data
    return {"text/plain": f"[display of {size} bytes not sent: over {MAX_DISPLAY} bytes]"}


class Collected:
    """A cell's output gathered for a unary reply, cut with a visible marker past the limits."""

    def __init__(self) -> None:
        self.text: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.size = {"stdout": 0, "stderr": 0}
        self.dropped = {"stdout": 0, "stderr": 0}
        self.displays: list[dict[str, Any]] = []
        self.display_bytes = 0
        self.displays_dropped = 0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind in self.text:
            text = str(event["text"])
            room = MAX_TEXT - self.size[kind]
            self.text[kind].append(text[: max(room, 0)])
            self.size[kind] += min(len(text), max(room, 0))
            self.dropped[kind] += max(len(text) - max(room, 0), 0)
        elif kind == "display":
            data = bounded_display(event["data"])
            size = sum(len(v) for v in data.values())
            if self.display_bytes + size > MAX_DISPLAYS:
                self.displays_dropped += 1
                return
            self.display_bytes += size
            self.displays.append({"data": data, "result": bool(event["result"])})

    def reply(self, outcome: dict[str, Any]) -> dict[str, Any]:
        out = dict(outcome)
        for name in ("stdout", "stderr"):
            out[name] = "".join(self.text[name])
            if self.dropped[name]:
                out[name] += f"\n[output truncated: {self.dropped[name]} more characters]\n"
        if self.displays_dropped:
            out["stderr"] += f"\n[{self.displays_dropped} displays not sent: too large]\n"
        out["displays"] = self.displays
        out["truncated"] = any(self.dropped.values()) or self.displays_dropped > 0
        return out


class LiveSession:
    """Serves one live-session connection until the client closes it."""

    def __init__(self, send: Send, recv: Recv, kernel: Any, execute: Execute) -> None:
        self._send_raw, self._recv = send, recv
        self._kernel = kernel  # a JupyterKernel, or None: runs go through `execute` in one piece
        self._execute = execute
        self._send_lock = threading.Lock()
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._busy = False  # a cell runs; cleared before its last event goes out
        self._busy_lock = threading.Lock()
        self._closed = False
        self._interrupts = 0  # the kernel's interrupt count when the running cell started

    def serve(self) -> None:
        self.send({"ok": True})
        try:
            while (message := self._recv()) is not None:
                self._handle(message)
        finally:
            self._closed = True
            self._answers.put(None)  # a prompt nobody can answer any more gets ""

    def send(self, message: dict[str, Any]) -> None:
        with self._send_lock, contextlib.suppress(OSError):
            if not self._closed:
                self._send_raw(message)

    def _handle(self, message: Any) -> None:
        op = message.get("op") if isinstance(message, dict) else None
        if op == "run":
            with self._busy_lock:
                busy, self._busy = self._busy, True
            if busy:
                self.send({"event": "error", "message": "a cell is still running"})
                return
            while not self._answers.empty():  # answers meant for an earlier cell
                self._answers.get_nowait()
            threading.Thread(target=self._run, args=(message,), daemon=True).start()
        elif op == "input":
            self._answers.put(str(message.get("value", "")))
        elif op == "interrupt":  # the Jupyter kernel's cell, a batch command, a plain query
            self._execute({"op": "interrupt"})
        elif op == "complete":
            threading.Thread(target=self._complete, args=(message,), daemon=True).start()
        else:
            self.send({"event": "error", "message": f"unknown request {op!r}"})

    def _run(self, message: dict[str, Any]) -> None:
        last = self._outcome(message)
        with self._busy_lock:
            self._busy = False  # so that a RUN answering this last event is accepted
        self.send(last)

    def _outcome(self, message: dict[str, Any]) -> dict[str, Any]:
        """Run the cell, streaming its output; its last event (finished or error)."""
        code, timeout = message.get("code"), message.get("timeout", 0)
        if not isinstance(code, str) or not isinstance(timeout, (int, float)):
            return {"event": "error", "message": "run needs a string 'code', numeric 'timeout'"}
        try:
            if message.get("mode") == "query" and self._kernel is not None:
                with self._kernel.lock:
                    self._interrupts = self._kernel.interrupts
                    outcome = self._kernel.run(code, float(timeout), self._emit, self._read_input)
            else:
                outcome = self._execute({**message, "op": "execute"})
                if "error" in outcome:
                    return {"event": "error", "message": str(outcome["error"])}
                for name in ("stdout", "stderr"):
                    self._emit({"event": name, "text": outcome.pop(name, "")})
        except Exception as exc:  # the kernel died or would not start: say so, keep serving
            return {"event": "error", "message": f"{type(exc).__name__}: {exc}"}
        keys = ("status", "exit_code", "error_name", "error_message")
        return {"event": "finished", **{k: outcome[k] for k in keys}}

    def _emit(self, event: dict[str, Any]) -> None:
        if event["event"] in ("stdout", "stderr"):
            text = str(event["text"])
            for start in range(0, len(text), CHUNK):
                self.send({"event": event["event"], "text": text[start : start + CHUNK]})
        elif event["event"] == "display":
            self.send({**event, "data": bounded_display(event["data"])})
        else:
            self.send(event)

    def _read_input(self, _prompt: str, _password: bool) -> str | None:
        # An interrupt stops the cell in input() (ipykernel raises KeyboardInterrupt there) but
        # comes on another connection: without this the run waited here for an answer nobody
        # would send, and the cell never finished. Counted from the cell's start, not from the
        # prompt: an interrupt may reach the kernel after it sent the prompt and before the
        # runner read it.
        while True:
            with contextlib.suppress(queue.Empty):
                return self._answers.get(timeout=0.1)
            if self._kernel.interrupts != self._interrupts:
                return None

    def _complete(self, message: dict[str, Any]) -> None:
        # The runner completes on the Jupyter kernel, else from its own query namespace.
        got = self._execute({**message, "op": "complete"})
        if "error" in got:
            self.send({"event": "error", "message": str(got["error"])})
        else:
            self.send({"event": "completion", **got})
