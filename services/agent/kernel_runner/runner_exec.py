"""Query and batch executions in the runner's own interpreter (`__main__.py` loads this file).

Stdlib only. Query code runs in the main thread (SIGALRM can only interrupt that one) in one
namespace kept across calls; batch commands run `/bin/sh -c` in their own process group. Used
when the kernel has no Jupyter kernel (query mode) and always for batch mode.
"""

from __future__ import annotations

import contextlib
import io
import os
import rlcompleter
import signal
import subprocess
import threading
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # kernels may have a python older than these annotations
    from types import FrameType

MAX_OUTPUT = 256 << 10  # per stream; more is cut so a reply fits the edge's buffers

namespace: dict[str, Any] = {"__name__": "__main__"}
# Process groups to kill with the runner: running batch commands and service apps.
batch_groups: set[int] = set()
app_groups: set[int] = set()
_armed = False  # True while query code runs: only then may SIGALRM interrupt it
_interrupted = False  # the next SIGALRM is an interrupt, not the time limit
_main_thread = threading.main_thread().ident


class _Timeout(BaseException):
    """Raised into query code by SIGALRM; a BaseException so `except Exception` cannot eat it."""


def on_alarm(_signum: int, _frame: FrameType | None) -> None:
    global _interrupted
    if _armed:
        if _interrupted:
            _interrupted = False
            raise KeyboardInterrupt
        raise _Timeout


def interrupt() -> None:
    """Stop the running query cell (KeyboardInterrupt) and any running batch command."""
    global _interrupted
    for pgid in list(batch_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGINT)
    if _armed and _main_thread is not None:
        _interrupted = True
        signal.pthread_kill(_main_thread, signal.SIGALRM)


def complete(code: str, cursor_pos: int) -> dict[str, Any]:
    """Matches for the name or attribute before the cursor, from the query namespace."""
    head = code[:cursor_pos]
    start = len(head)
    while start > 0 and (head[start - 1].isalnum() or head[start - 1] in "._"):
        start -= 1
    word = head[start:]
    completer = rlcompleter.Completer(namespace)
    matches: list[str] = []
    with contextlib.suppress(Exception):  # attribute lookups run user code
        while (match := completer.complete(word, len(matches))) is not None and len(matches) < 200:
            matches.append(match.rstrip("("))
    return {"matches": matches, "cursor_start": start, "cursor_end": cursor_pos}


def execute(request: dict[str, Any]) -> dict[str, Any]:
    mode, code, timeout = request.get("mode"), request.get("code"), request.get("timeout", 0)
    if not isinstance(code, str) or not isinstance(timeout, (int, float)):
        return {"error": "execute needs a string 'code' and a numeric 'timeout'"}
    if mode == "query":
        return run_query(code, float(timeout))
    if mode == "batch":
        return run_batch(code, float(timeout))
    return {"error": f"unknown mode {mode!r}"}


def run_query(code: str, timeout: float) -> dict[str, Any]:
    global _armed, _interrupted
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                _interrupted = False
                _armed = True
                if timeout > 0:
                    signal.setitimer(signal.ITIMER_REAL, timeout)
                exec(compile(code, "<cell>", "exec"), namespace)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                _armed = False
    except _Timeout:
        err.write(f"TimeoutError: execution timed out after {timeout:g}s\n")
        return result("timed_out", out, err, 1, "TimeoutError", f"timed out after {timeout:g}s")
    except BaseException as exc:
        # Drop this function's frame: the user only needs the frames of their own cell.
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        err.write("".join(traceback.format_exception(type(exc), exc, tb)))
        return result("failed", out, err, 1, type(exc).__name__, str(exc))
    return result("finished", out, err, 0)


def run_batch(code: str, timeout: float) -> dict[str, Any]:
    proc = subprocess.Popen(
        ["/bin/sh", "-c", code],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # so a timeout can kill everything the command started
    )
    batch_groups.add(proc.pid)
    timed_out = False
    try:
        try:
            out, err = proc.communicate(timeout=timeout if timeout > 0 else None)
        except subprocess.TimeoutExpired:
            timed_out = True
            killpg(proc.pid)
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # something outside the group holds the pipes
                out, err = b"", b""
    finally:
        killpg(proc.pid)
        proc.kill()
        proc.wait()
        batch_groups.discard(proc.pid)
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    code_ = exit_code(proc.returncode)
    if timed_out:
        message = f"timed out after {timeout:g}s"
        return result("timed_out", stdout, stderr, code_, "TimeoutError", message)
    if code_ != 0:
        message = f"command exited with code {code_}"
        return result("failed", stdout, stderr, code_, "", message)
    return result("finished", stdout, stderr, 0)


def result(
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


def exit_code(returncode: int) -> int:
    """Shell convention: death by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_all() -> None:
    for pgid in list(batch_groups | app_groups):
        killpg(pgid)
