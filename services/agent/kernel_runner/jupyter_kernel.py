"""Query mode on a real Jupyter kernel: a minimal client of the Jupyter messaging protocol.

Loaded by the runner (`__main__.py`) from its own directory; stdlib only apart from pyzmq, which
is imported when a kernel starts, so that a kernel without Jupyter still runs the runner.
The kernel is the first kernelspec found (`python3` preferred) under the Jupyter data dirs
(jupyter_support.py); it runs in its own process group (an interrupt reaches the commands a cell
started) with its IPython and matplotlib state in a private temporary directory, not in the
user's work dir.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # kernels may have a python older than these annotations
    from collections.abc import Callable

    # An event for the caller: {"event": "stdout" | "stderr" | "display" | "input_request"}.
    Emit = Callable[[dict[str, Any]], None]
    # Waits for the user's answer to an input() prompt; None when nobody can answer.
    ReadInput = Callable[[str, bool], str | None]


def _load(name: str) -> Any:
    """A module beside this file, under the name the runner's own loader gives it."""
    if f"_runner_{name}" not in sys.modules:
        path = Path(__file__).with_name(f"{name}.py")
        spec = importlib.util.spec_from_file_location(f"_runner_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules[f"_runner_{name}"]


_s = _load("jupyter_support")
find_kernelspec = _s.find_kernelspec
available = _s.available
START_TIMEOUT = 60.0
QUEUE_GRACE = 5.0  # how long a cell may wait to start before its time limit runs anyway
INTERRUPT_GRACE = 5.0  # after an interrupt, how long the cell gets to stop before a restart
COMPLETE_TIMEOUT = 30.0  # a first completion loads jedi: seconds on a busy machine
# ipykernel sends a cell's execute_reply as it publishes the idle status: when the idle comes,
# the reply is due at once, or never (an interrupt that hit the kernel's own code around the cell).
REPLY_GRACE = 5.0
IPYKERNEL_OPTIONS = [
    # The history dies with the private dir anyway; on disk it cost a sync per cell.
    "--HistoryManager.hist_file=:memory:",
    # ipykernel sleeps 0.5 ms before every execute_reply so that a client which stops reading at
    # the reply has the cell's output; `run` reads IOPub until the idle status, which comes after
    # all of it, so the sleep only delayed the reply (~1.2 ms of wall time per cell).
    "--Kernel._execute_sleep=0",
]


class KernelGone(Exception):
    """The Jupyter kernel process ended; `code` is its exit code in shell convention."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the Jupyter kernel exited with code {code}")
        self.code = code


class JupyterKernel:
    """One Jupyter kernel, started on first use; runs one cell at a time."""

    def __init__(self, workdir: str, on_death: Callable[[int], None]) -> None:
        self._workdir = workdir
        self._on_death = on_death  # the runner ends with the kernel: the session's kernel died
        self.lock = threading.Lock()  # held while a cell (or completion) talks to the kernel
        self._start_lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._wire: Any = None  # jupyter_channels.Channels, while a kernel runs
        self._key = b""
        self._session = uuid.uuid4().hex
        self._private = ""
        self._interrupt_mode = "signal"
        self._language = ""
        self.interrupts = 0  # interrupts sent so far: a prompt waiting for an answer ends on one

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._start_lock:
            if self._proc is None:
                self._launch()

    def _launch(self) -> None:
        spec = find_kernelspec()
        if spec is None:
            raise RuntimeError("no Jupyter kernel is installed in this image")
        self._private = tempfile.mkdtemp(prefix="jupyter-")
        self._key = secrets.token_hex(16).encode()
        ports = _s.free_ports(5)
        names = ("shell", "iopub", "stdin", "control", "hb")
        info: dict[str, Any] = {f"{n}_port": p for n, p in zip(names, ports, strict=False)}
        info.update(ip="127.0.0.1", transport="tcp", key=self._key.decode())
        info.update(signature_scheme="hmac-sha256", kernel_name="")
        private = Path(self._private)  # mkdtemp made it 0700: only this user reads the key
        conn_file = str(private / "kernel.json")
        Path(conn_file).write_text(json.dumps(info))
        argv = [a.replace("{connection_file}", conn_file) for a in spec["argv"]]
        if any("ipykernel" in a for a in argv):
            argv += IPYKERNEL_OPTIONS
        if argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        env = dict(os.environ)
        env.update({k: str(v) for k, v in (spec.get("env") or {}).items()})
        env.update(
            JPY_PARENT_PID=str(os.getpid()),
            IPYTHONDIR=str(private / "ipython"),
            MPLCONFIGDIR=str(private / "mpl"),
            JUPYTER_RUNTIME_DIR=self._private,
            XDG_CACHE_HOME=str(private / "cache"),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
        )
        self._language = str(spec.get("language", ""))
        self._interrupt_mode = str(spec.get("interrupt_mode", "signal"))
        self._proc = subprocess.Popen(
            argv, cwd=self._workdir, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self._wire = _load("jupyter_channels").Channels(info, self._key, self._session, _s)
        self._wait_ready()
        if self._language == "python":
            self.run(_s.PYTHON_SETUP, 30.0, lambda _event: None, None, silent=True)

    def _wait_ready(self) -> None:
        """kernel_info until it answers, iopub is joined (its status reaches us), and stdin too."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive()
            msg_id = self._wire.send("shell", "kernel_info_request", {})
            got_reply = False
            until = time.monotonic() + 1.0
            while time.monotonic() < until:
                ready = dict(self._wire.poll(0.1))
                if "shell" in ready:
                    reply = self._wire.recv("shell")
                    got_reply = got_reply or _s.parent(reply) == msg_id
                if "iopub" in ready:
                    msg = self._wire.recv("iopub")
                    if got_reply or (msg and _s.parent(msg) == msg_id):
                        self._wire.drain("iopub")
                        if self._wire.wait_stdin(max(deadline - time.monotonic(), 0)):
                            return
                        break
            if got_reply:  # iopub still joining: the next round's status message shows it
                continue
        raise RuntimeError(f"the Jupyter kernel did not answer within {START_TIMEOUT:g}s")

    def stop(self) -> None:
        """Kill the kernel; the next cell starts a new one."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if self._wire is not None:
            self._wire.close()
            self._wire = None
        if self._private:
            shutil.rmtree(self._private, ignore_errors=True)

    def interrupt(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self.interrupts += 1
        if self._interrupt_mode == "message":
            self._wire.send("control", "interrupt_request", {})
        else:  # the whole group: commands a cell started (os.system, subprocess) stop too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGINT)

    # -- execution ----------------------------------------------------------------------------

    def run(
        self,
        code: str,
        timeout: float,
        emit: Emit,
        read_input: ReadInput | None,
        *,
        silent: bool = False,
    ) -> dict[str, Any]:
        """Run one cell; emits its output as it comes and returns how it ended:
        {"status", "exit_code", "error_name", "error_message"}."""
        self.start()
        self._wire.drain("iopub")
        interrupts = self.interrupts  # a different count later: the cell was interrupted
        content = {
            "code": code,
            "silent": silent,
            "store_history": not silent,
            "user_expressions": {},
            "allow_stdin": read_input is not None,
            # Cells go one at a time, so there is no queue to stop. With True, ipykernel aborts
            # every execute_request it takes in after a failed cell until its loop next turns:
            # a next cell sent as soon as the failed one ended came back "failed", unrun, when
            # the kernel was slow to turn (a loaded machine; docs/execution.md).
            "stop_on_error": False,
        }
        msg_id = self._wire.send("shell", "execute_request", content)
        # The limit counts from when the cell starts (execute_input), not from the request: an
        # interrupt before that would hit the kernel's own code, not the cell.
        queued = 0.0 if silent else QUEUE_GRACE
        deadline = time.monotonic() + timeout + queued if timeout > 0 else None
        reply: dict[str, Any] | None = None
        idle = timed_out = restarted = False
        error: dict[str, Any] = {}
        reply_by = 0.0  # once idle: when to stop waiting for a reply that is not coming
        while reply is None or not idle:
            self._check_alive()
            now = time.monotonic()
            if idle and now > reply_by:
                reply = _s.unanswered(self.interrupts != interrupts)
                break
            if deadline is not None and now > deadline:
                if timed_out:  # interrupted, still not done: the next cell gets a new kernel
                    self.stop()
                    restarted = True
                    break
                timed_out = True
                self.interrupt()
                deadline = now + INTERRUPT_GRACE
            for name, _ in self._wire.poll(0.1):
                msg = self._wire.recv(name)
                if msg is None or _s.parent(msg) != msg_id:
                    continue
                kind, body = msg["header"]["msg_type"], msg["content"]
                if name == "shell" and kind == "execute_reply":
                    reply = body
                elif name == "stdin" and kind == "input_request":
                    answer = self._ask(body, emit, read_input)
                    self._wire.send("stdin", "input_reply", {"value": answer}, parent=msg["header"])
                elif kind == "status" and body.get("execution_state") == "idle":
                    idle, reply_by = True, time.monotonic() + REPLY_GRACE
                elif kind == "execute_input":
                    if timeout > 0 and not timed_out:
                        deadline = time.monotonic() + timeout
                elif kind == "error":
                    error = body
                    emit({"event": "stderr", "text": _s.plain("\n".join(body["traceback"])) + "\n"})
                else:
                    _s.forward(kind, body, emit)
        outcome: dict[str, Any] = _s.outcome(reply or {}, error, timed_out, timeout)
        if restarted:
            outcome["error_message"] += "; the cell ignored the interrupt, so the kernel restarted"
        return outcome

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        self.start()
        msg_id = self._wire.send(
            "shell", "complete_request", {"code": code, "cursor_pos": cursor_pos}
        )
        deadline = time.monotonic() + COMPLETE_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive()
            for name, _ in self._wire.poll(0.1):
                msg = self._wire.recv(name)
                if name == "shell" and msg is not None and _s.parent(msg) == msg_id:
                    body = msg["content"]
                    return {
                        "matches": [str(m) for m in body.get("matches", [])],
                        "cursor_start": int(body.get("cursor_start", cursor_pos)),
                        "cursor_end": int(body.get("cursor_end", cursor_pos)),
                    }
        return {"matches": [], "cursor_start": cursor_pos, "cursor_end": cursor_pos}

    def _ask(self, body: dict[str, Any], emit: Emit, read_input: ReadInput | None) -> str:
        prompt, password = str(body.get("prompt", "")), bool(body.get("password", False))
        emit({"event": "input_request", "prompt": prompt, "password": password})
        answer = read_input(prompt, password) if read_input is not None else None
        return "" if answer is None else answer

    def _check_alive(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            code = proc.returncode
            self._on_death(128 - code if code < 0 else code)
            raise KernelGone(code)
