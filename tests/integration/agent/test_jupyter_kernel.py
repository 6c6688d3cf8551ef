"""Query mode on a real Jupyter kernel in the process backend's sandbox (docs/execution.md)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.agent.adapters.process_backend import ProcessBackend
from services.agent.domain.model import ExecMode, ExecResult, ExecStatus, KernelSpec
from services.agent.service.ports import LiveChannel

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/jupyter/kernels/python3/kernel.json").exists(),
    reason="python3-ipykernel is not installed (scripts/system-packages installs it)",
)


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[ProcessBackend]:
    backend = ProcessBackend(tmp_path / "kernels", grace=2.0, jupyter=True)
    yield backend
    await backend.close()


@pytest.fixture
async def kid(backend: ProcessBackend) -> str:
    kernel_id = f"k-{uuid.uuid4().hex[:12]}"
    spec = KernelSpec(
        kernel_id=kernel_id, session_id="s-1", image="python", cpu=Decimal(1), mem_bytes=1 << 30
    )
    await backend.create(spec)
    return kernel_id


async def query(backend: ProcessBackend, kid: str, code: str) -> ExecResult:
    return await backend.execute(kid, ExecMode.QUERY, code, 60)


async def test_the_cases_that_differed_from_jupyter(backend: ProcessBackend, kid: str) -> None:
    await query(backend, kid, "x = 5")
    got = await query(backend, kid, "x * 2")
    assert [(d.data["text/plain"], d.result) for d in got.displays] == [("10", True)]
    got = await query(backend, kid, "import os\n_ = os.system('echo hi')")
    assert got.stdout == "hi\n"
    got = await query(backend, kid, "import sys\n_ = sys.stdout.buffer.write(b'bytes\\n')")
    assert (got.status, got.stdout) == (ExecStatus.FINISHED, "bytes\n")
    got = await query(backend, kid, "print('x' * (10 << 20))")
    assert got.truncated and "[output truncated:" in got.stdout
    assert len(got.stdout) < 1 << 20


async def test_output_written_to_the_file_descriptors_comes_with_its_own_cell(
    backend: ProcessBackend, kid: str
) -> None:
    # It reaches ipykernel through a pipe a thread reads: a cell's reply used to come before
    # that thread had passed it on now and then, and the output was lost.
    for n in range(40):
        got = await query(backend, kid, f"import os\n_ = os.write(1, b'fd {n}\\n')")
        assert got.stdout == f"fd {n}\n"
        got = await query(backend, kid, f"import os\n_ = os.system('echo sh {n}')")
        assert got.stdout == f"sh {n}\n"


async def test_the_notebook_history_spans_the_kernels_cells(
    backend: ProcessBackend, kid: str
) -> None:
    await query(backend, kid, "a = 'first cell'")
    await query(backend, kid, "6 * 7")
    got = await query(backend, kid, "print(In[1], '|', Out[2], '|', _ih[-2])\n%history -n 1-2")
    lines = got.stdout.splitlines()
    assert lines[0] == "a = 'first cell' | 42 | 6 * 7"
    assert [line.split(maxsplit=1)[-1] for line in lines[1:]] == ["a = 'first cell'", "6 * 7"]


async def test_errors_come_with_their_traceback(backend: ProcessBackend, kid: str) -> None:
    got = await query(backend, kid, "def f():\n    return 1 / 0\nf()")
    assert (got.status, got.error_name) == (ExecStatus.FAILED, "ZeroDivisionError")
    assert "return 1 / 0" in got.stderr and "\x1b[" not in got.stderr


async def test_a_plot_comes_back_as_png(backend: ProcessBackend, kid: str) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
    got = await query(backend, kid, code)
    pngs = [d.data["image/png"] for d in got.displays if "image/png" in d.data]
    assert len(pngs) == 1 and base64.b64decode(pngs[0]).startswith(b"\x89PNG")


async def test_a_timeout_interrupts_and_the_kernel_keeps_its_state(
    backend: ProcessBackend, kid: str
) -> None:
    await query(backend, kid, "y = 41")
    got = await backend.execute(kid, ExecMode.QUERY, "import time\ntime.sleep(60)", 1)
    assert got.status == ExecStatus.TIMED_OUT
    assert (await query(backend, kid, "y + 1")).displays[0].data["text/plain"] == "42"


async def test_a_cell_sent_as_soon_as_a_failed_one_ended_runs(
    backend: ProcessBackend, kid: str
) -> None:
    # After a failed cell, ipykernel aborts the execute requests it receives until its event
    # loop next turns, if the request asks it to stop on errors. The failing cell here holds the
    # kernel's loop for 2 s after its reply, as a busy machine does, and takes in the next request
    # meanwhile: that next cell came back "failed" without running.
    code = (
        "import time\nk = get_ipython().kernel\n"
        "k.io_loop.add_callback(lambda: (time.sleep(2), k.shell_stream.flush()))\n1 / 0"
    )
    got = await query(backend, kid, code)
    assert got.error_name == "ZeroDivisionError"
    got = await query(backend, kid, "print('ran')")
    assert (got.status, got.stdout) == (ExecStatus.FINISHED, "ran\n"), got


async def until(channel: LiveChannel, kind: str) -> list[dict[str, Any]]:
    events = []
    async with asyncio.timeout(60):
        while (event := await channel.receive()) is not None:
            events.append(event)
            if event["event"] == kind:
                return events
            assert event["event"] != "error", events
    raise AssertionError(f"no {kind} event: {events}")


async def test_live_output_input_interrupt_and_completion(
    backend: ProcessBackend, kid: str
) -> None:
    channel = await backend.open_live(kid)
    try:
        code = "import time\nprint('first', flush=True)\ntime.sleep(30)\nprint('never')"
        await channel.send({"op": "run", "mode": "query", "code": code, "timeout": 0})
        assert (await until(channel, "stdout"))[-1]["text"] == "first\n"  # before the cell ends
        await backend.interrupt(kid)
        finished = (await until(channel, "finished"))[-1]
        assert finished["error_name"] == "KeyboardInterrupt"
        code = "name = input('name? ')\nprint('hello', name)"
        await channel.send({"op": "run", "mode": "query", "code": code, "timeout": 30})
        assert (await until(channel, "input_request"))[-1]["prompt"] == "name? "
        await channel.send({"op": "input", "value": "Ada"})
        events = await until(channel, "finished")
        # print() writes "hello", " ", "Ada", "\n": a kernel that flushed between writes sends
        # them in more than one event
        assert "".join(e["text"] for e in events if e["event"] == "stdout") == "hello Ada\n"
        await channel.send({"op": "complete", "code": "import os\nos.pat", "cursor_pos": 16})
        assert "path" in (await until(channel, "completion"))[-1]["matches"]
    finally:
        await channel.close()


async def test_an_interrupt_as_a_cell_ends_ends_the_cell_and_the_kernel_serves_on(
    backend: ProcessBackend, kid: str
) -> None:
    # The cell's code is done; the kernel is flushing its output (made slow here) when the
    # interrupt comes. ipykernel then sends no execute_reply, and the cell never finished.
    code = (
        "import sys, time\n"
        "def slow_flush(flush=sys.stdout.flush):\n"
        "    del sys.stdout.flush\n"
        "    flush()\n"
        "    time.sleep(30)\n"
        "sys.stdout.flush = slow_flush\n"
        "print('cell done')"
    )
    channel = await backend.open_live(kid)
    try:
        await channel.send({"op": "run", "mode": "query", "code": code, "timeout": 0})
        assert (await until(channel, "stdout"))[-1]["text"] == "cell done\n"
        await backend.interrupt(kid)
        assert (await until(channel, "finished"))[-1]["error_name"] == "KeyboardInterrupt"
        await channel.send({"op": "run", "mode": "query", "code": "print(1)", "timeout": 0})
        events = await until(channel, "finished")
        assert "".join(e["text"] for e in events if e["event"] == "stdout") == "1\n"
        assert events[-1]["status"] == "finished"
    finally:
        await channel.close()


async def test_an_interrupt_stops_a_cell_waiting_for_input(
    backend: ProcessBackend, kid: str
) -> None:
    channel = await backend.open_live(kid)
    try:
        code = "name = input('name? ')\nprint('never')"
        await channel.send({"op": "run", "mode": "query", "code": code, "timeout": 0})
        assert (await until(channel, "input_request"))[-1]["prompt"] == "name? "
        await backend.interrupt(kid)
        events = await until(channel, "finished")
        assert events[-1]["error_name"] == "KeyboardInterrupt"
        assert not [e for e in events if e["event"] == "stdout"]
        code = "name = input('again? ')\nprint('hello', name)"
        await channel.send({"op": "run", "mode": "query", "code": code, "timeout": 0})
        assert (await until(channel, "input_request"))[-1]["prompt"] == "again? "
        await channel.send({"op": "input", "value": "Ada"})
        events = await until(channel, "finished")
        assert "".join(e["text"] for e in events if e["event"] == "stdout") == "hello Ada\n"
    finally:
        await channel.close()


async def test_a_kernel_whose_notebook_kernel_dies_ends(backend: ProcessBackend, kid: str) -> None:
    got = await query(backend, kid, "import os; os._exit(3)")
    assert (got.error_name, got.exit_code) == ("KernelExited", 3)


async def test_a_cell_that_ignores_interrupts_gets_a_fresh_kernel(
    backend: ProcessBackend, kid: str
) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)"
    got = await backend.execute(kid, ExecMode.QUERY, code, 1)
    assert got.status == ExecStatus.TIMED_OUT and "restarted" in got.error_message
    got = await query(backend, kid, "print('fresh', 'signal' in dir())")
    assert got.stdout == "fresh False\n"


async def test_a_notebook_kernel_runs_where_memory_is_capped_by_rlimit_as(tmp_path: Path) -> None:
    """Without writable cgroups the memory cap is RLIMIT_AS; the notebook kernel's threads
    must still fit in a small one (their stacks are sized by the stack limit)."""
    backend = ProcessBackend(tmp_path / "kernels", grace=2.0, jupyter=True, use_cgroups=False)
    try:
        spec = KernelSpec(
            kernel_id=f"k-{uuid.uuid4().hex[:12]}",
            session_id="s-1",
            image="python",
            cpu=Decimal(1),
            mem_bytes=256 << 20,
        )
        await backend.create(spec)
        got = await backend.execute(spec.kernel_id, ExecMode.QUERY, "x = 6\nx * 7", 60)
        assert (got.status, got.stdout) == (ExecStatus.FINISHED, ""), got
        assert [d.data.get("text/plain") for d in got.displays] == ["42"]
    finally:
        await backend.close()
