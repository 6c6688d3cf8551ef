"""Polled runs: the unary Execute's continue / input protocol on top of live execution.

A run starts as a live session with the kernel's runner (the same one StreamExecute uses); each
call gathers the run's events for at most the flush timeout and answers with what came: the end
(FINISHED, FAILED, TIMED_OUT), an input() prompt (WAITING_INPUT) or the output so far
(CONTINUED). The run stays here, by id, until it ends or nobody polled it for `idle_ttl`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from libs.core.errors import FieldViolation, InvalidArgument, NotFound
from services.agent.domain.model import Display, ExecMode, ExecResult, ExecStatus
from services.agent.service.live_execute import LiveExecute
from services.agent.service.ports import LiveChannel

DEFAULT_FLUSH = 2.0
IDLE_TTL = 600.0
MAX_TEXT = 128 << 10  # characters of stdout + stderr in one reply; the rest waits for the next
MAX_DISPLAYS = 512 << 10  # bytes of displays in one reply
_ENDS = {s.value: s for s in (ExecStatus.FINISHED, ExecStatus.FAILED, ExecStatus.TIMED_OUT)}


@dataclass(eq=False)
class _Run:
    run_id: str
    kernel_id: str
    channel: LiveChannel
    events: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_poll: float = 0.0
    reader: asyncio.Task[None] | None = None
    waiting_input: bool = False


class PolledRuns:
    def __init__(
        self,
        live: LiveExecute,
        *,
        idle_ttl: float = IDLE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._live = live
        self._idle_ttl = idle_ttl
        self._clock = clock
        self._runs: dict[str, _Run] = {}

    async def start(
        self, kernel_id: str, mode: ExecMode, code: str, timeout: float, flush: float
    ) -> ExecResult:
        await self._expire()
        channel = await self._live.open(kernel_id)
        run = _Run(secrets.token_hex(16), kernel_id, channel)
        run.reader = asyncio.create_task(self._read(run), name=f"run-{run.run_id}")
        self._runs[run.run_id] = run
        try:
            await channel.send({"op": "run", "mode": mode.value, "code": code, "timeout": timeout})
        except BaseException:
            await self._end(run)
            raise
        return await self._poll(run, flush)

    async def resume(
        self, kernel_id: str, run_id: str, flush: float, answer: str | None = None
    ) -> ExecResult:
        """CONTINUE (answer None) or INPUT (the answer to the pending prompt)."""
        await self._expire()
        if not run_id:
            why = "continue and input need the run_id of a CONTINUED or WAITING_INPUT reply"
            raise InvalidArgument(f"run_id: {why}", violations=[FieldViolation("run_id", why)])
        run = self._runs.get(run_id)
        if run is None or run.kernel_id != kernel_id:
            raise NotFound(
                f"run_id {run_id} names no unfinished run of this session",
                metadata={"run_id": run_id},
            )
        if answer is not None:
            if not run.waiting_input:
                why = f"run {run_id} is not waiting for input"
                raise InvalidArgument(f"run_id: {why}", violations=[FieldViolation("run_id", why)])
            run.waiting_input = False
            await run.channel.send({"op": "input", "value": answer})
        return await self._poll(run, flush)

    async def close(self) -> None:
        for run in list(self._runs.values()):
            await self._end(run)

    async def _poll(self, run: _Run, flush: float) -> ExecResult:
        async with run.lock:
            run.last_poll = self._clock()
            got = _Gathered()
            deadline = asyncio.get_running_loop().time() + (flush if flush > 0 else DEFAULT_FLUSH)
            while not got.full():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(run.events.get(), remaining)
                except TimeoutError:
                    break
                end = got.add(event)
                if end is not None:
                    if end.status is ExecStatus.WAITING_INPUT:
                        run.waiting_input = True
                        return got.result(end, run.run_id)
                    await self._end(run)
                    return got.result(end, run.run_id)
            run.last_poll = self._clock()
            return got.result(ExecResult(status=ExecStatus.CONTINUED), run.run_id)

    async def _read(self, run: _Run) -> None:
        try:
            while (event := await run.channel.receive()) is not None:
                run.events.put_nowait(event)
        finally:
            run.events.put_nowait(None)

    async def _end(self, run: _Run) -> None:
        self._runs.pop(run.run_id, None)
        if run.reader is not None:
            run.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run.reader
        with contextlib.suppress(Exception):
            await run.channel.close()

    async def _expire(self) -> None:
        """Forget runs nobody polled for a while (a client that went away)."""
        now = self._clock()
        stale = [r for r in self._runs.values() if now - r.last_poll > self._idle_ttl]
        for run in stale:
            if not run.lock.locked():
                await self._end(run)


class _Gathered:
    """The events of one poll, bounded to what one reply carries."""

    def __init__(self) -> None:
        self.text: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.size = 0
        self.displays: list[Display] = []
        self.display_bytes = 0

    def full(self) -> bool:
        return self.size >= MAX_TEXT or self.display_bytes >= MAX_DISPLAYS

    def add(self, event: dict[str, Any] | None) -> ExecResult | None:
        """Keep the event's output; the run's state if the event ends this poll."""
        if event is None:
            return ExecResult(
                status=ExecStatus.FAILED,
                exit_code=1,
                error_name="KernelExited",
                error_message="the kernel ended while the code ran",
            )
        kind = event.get("event")
        if kind in self.text:
            text = str(event.get("text", ""))
            self.text[str(kind)].append(text)
            self.size += len(text)
        elif kind == "display":
            data = {str(k): str(v) for k, v in dict(event.get("data") or {}).items()}
            self.displays.append(Display(data=data, result=bool(event.get("result"))))
            self.display_bytes += sum(len(v) for v in data.values())
        elif kind == "input_request":
            prompt, password = str(event.get("prompt", "")), bool(event.get("password"))
            return ExecResult(status=ExecStatus.WAITING_INPUT, prompt=prompt, password=password)
        elif kind == "finished":
            status = _ENDS.get(str(event.get("status")), ExecStatus.FAILED)
            return ExecResult(
                status=status,
                exit_code=int(event.get("exit_code", 0)),
                error_name=str(event.get("error_name", "")),
                error_message=str(event.get("error_message", "")),
            )
        elif kind == "error":
            message = str(event.get("message", ""))
            return ExecResult(
                status=ExecStatus.FAILED,
                exit_code=1,
                error_name="ExecutionError",
                error_message=message,
            )
        return None

    def result(self, state: ExecResult, run_id: str) -> ExecResult:
        return ExecResult(
            status=state.status,
            stdout="".join(self.text["stdout"]),
            stderr="".join(self.text["stderr"]),
            exit_code=state.exit_code,
            error_name=state.error_name,
            error_message=state.error_message,
            displays=tuple(self.displays),
            run_id=run_id,
            prompt=state.prompt,
            password=state.password,
        )
