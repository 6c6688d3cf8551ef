"""Query mode on a real Jupyter kernel and live execution, through the edge (docs/execution.md).

The process backend's kernels run Debian's ipykernel; REST for the unary cases, native gRPC to the
edge for the live stream (browsers reach it as a WebSocket through the edge's bridge).
"""

from __future__ import annotations

import asyncio
import base64
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from redis.asyncio import Redis
from shipyard.registry.v1 import execution_service_pb2 as pb
from shipyard.registry.v1 import execution_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import execution_pb2 as x

from cli.client import ApiError, ShipyardClient
from cli.grpc_signing import signed_channel
from cli.platform import Platform
from libs.events import session_activity
from tests.e2e.cli_as_user import CLI, cli_env
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e


@pytest.fixture
async def session_id(client: ShipyardClient) -> AsyncIterator[str]:
    session = await client.create_session(wait=True, resources={"cpu": "1", "mem": "1073741824"})
    assert session["status"] == "SESSION_STATUS_RUNNING", session
    yield session["session_id"]
    await client.destroy_session(session["session_id"])


def _value(result: dict[str, Any]) -> str:
    return str(next(d["data"]["text/plain"] for d in result.get("displays", []) if d.get("result")))


async def test_query_mode_behaves_as_in_jupyter(client: ShipyardClient, session_id: str) -> None:
    await client.execute(session_id, "x = 5")
    assert _value(await client.execute(session_id, "x * 2")) == "10"
    got = await client.execute(session_id, "import os\n_ = os.system('echo hi')")
    assert got["stdout"] == "hi\n"
    got = await client.execute(session_id, "import sys\n_ = sys.stdout.buffer.write(b'raw\\n')")
    assert got["stdout"] == "raw\n", got
    # No terminal to answer input() in a unary call: a clear error (the stream answers it).
    got = await client.execute(session_id, "input('name? ')")
    assert got["error_name"] == "StdinNotImplementedError", got
    got = await client.execute(session_id, "print('y' * (10 << 20))")  # was an HTTP 500
    assert got["truncated"] and "[output truncated:" in got["stdout"]
    got = await client.execute(session_id, "1 / 0")
    assert got["error_name"] == "ZeroDivisionError" and "1 / 0" in got["stderr"]


async def test_a_plot_comes_back_as_png(client: ShipyardClient, session_id: str) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
    got = await client.execute(session_id, code)
    pngs = [d["data"]["image/png"] for d in got["displays"] if "image/png" in d["data"]]
    assert len(pngs) == 1 and base64.b64decode(pngs[0]).startswith(b"\x89PNG")


def run(code: str, timeout: float = 0) -> pb.StreamExecuteRequest:
    limit = Duration(seconds=int(timeout))
    command = x.ExecutionCommand(
        action=x.EXECUTION_ACTION_RUN, mode=x.EXECUTION_MODE_QUERY, code=code, timeout=limit
    )
    return pb.StreamExecuteRequest(command=command)


class Live:
    """One StreamExecute call: send commands, read events."""

    def __init__(self, stub: pb_grpc.ExecutionServiceStub, session_id: str) -> None:
        self.outbox: asyncio.Queue[pb.StreamExecuteRequest | None] = asyncio.Queue()
        self.outbox.put_nowait(pb.StreamExecuteRequest(session_id=session_id))
        self.call = stub.StreamExecute(self._requests())

    async def _requests(self) -> AsyncIterator[pb.StreamExecuteRequest]:
        while (request := await self.outbox.get()) is not None:
            yield request

    async def until(self, kind: str) -> list[x.ExecutionEvent]:
        events = []
        async with asyncio.timeout(60):
            async for response in self.call:
                events.append(response.event)
                if response.event.WhichOneof("event") == kind:
                    return events
                assert not response.event.HasField("error"), events
        raise AssertionError(f"no {kind} event in {events}")


async def test_live_output_input_interrupt_and_completion(
    platform: Platform, client: ShipyardClient, session_id: str
) -> None:
    assert platform.keypair is not None
    keys = platform.keypair
    address = f"127.0.0.1:{platform.config.edge_port}"
    async with signed_channel(address, keys.access_key, keys.secret_key) as channel:
        live = Live(pb_grpc.ExecutionServiceStub(channel), session_id)
        code = (
            "import time\nfor i in range(600):\n    print('step', i, flush=True)\n    time.sleep(1)"
        )
        live.outbox.put_nowait(run(code))
        # Progress from the first second, long before the cell would end.
        async with asyncio.timeout(15):
            first = (await live.until("stdout"))[-1]
        assert first.stdout == "step 0\n"
        await client.request("POST", f"/v1/sessions/{session_id}:interrupt", body={})
        finished = (await live.until("finished"))[-1].finished
        assert finished.error_name == "KeyboardInterrupt"

        live.outbox.put_nowait(run("name = input('name? ')\nprint('hello', name)", timeout=30))
        prompt = (await live.until("input_request"))[-1].input_request
        assert prompt.prompt == "name? "
        answer = x.ExecutionCommand(action=x.EXECUTION_ACTION_INPUT, input="Ada")
        live.outbox.put_nowait(pb.StreamExecuteRequest(command=answer))
        events = await live.until("finished")
        assert [e.stdout for e in events if e.WhichOneof("event") == "stdout"] == ["hello Ada\n"]

        # An interrupt sent on the stream; the kernel keeps its state.
        live.outbox.put_nowait(run("import time\nstate = 41\ntime.sleep(600)"))
        await asyncio.sleep(2)
        stop = x.ExecutionCommand(action=x.EXECUTION_ACTION_INTERRUPT)
        live.outbox.put_nowait(pb.StreamExecuteRequest(command=stop))
        assert (await live.until("finished"))[-1].finished.error_name == "KeyboardInterrupt"
        live.outbox.put_nowait(run("state + 1"))
        events = await live.until("finished")
        assert [e.display.data["text/plain"] for e in events if e.HasField("display")] == ["42"]

        complete = x.ExecutionCommand(
            action=x.EXECUTION_ACTION_COMPLETE, code="import os\nos.pat", cursor_pos=16
        )
        live.outbox.put_nowait(pb.StreamExecuteRequest(command=complete))
        assert "path" in (await live.until("completion"))[-1].completion.matches
        live.outbox.put_nowait(None)


async def test_a_stream_ends_once_its_cells_are_done(platform: Platform, session_id: str) -> None:
    assert platform.keypair is not None
    keys = platform.keypair
    address = f"127.0.0.1:{platform.config.edge_port}"
    async with signed_channel(address, keys.access_key, keys.secret_key) as channel:
        stub = pb_grpc.ExecutionServiceStub(channel)
        requests = [pb.StreamExecuteRequest(session_id=session_id), run("print(6 * 7)")]
        async with asyncio.timeout(60):
            events = [r.event async for r in stub.StreamExecute(iter(requests))]
        assert [e.WhichOneof("event") for e in events] == ["stdout", "finished"]
        assert events[0].stdout == "42\n"


async def test_other_users_and_strangers_are_refused(platform: Platform, session_id: str) -> None:
    other = await ordinary_user(platform)
    address = f"127.0.0.1:{platform.config.edge_port}"
    async with signed_channel(address, other.access_key, other.secret_key) as channel:
        stub = pb_grpc.ExecutionServiceStub(channel)
        requests = [pb.StreamExecuteRequest(session_id=session_id), run("print('mine now')")]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            async for _ in stub.StreamExecute(iter(requests)):
                pass
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.InterruptExecution(pb.InterruptExecutionRequest(session_id=session_id))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    async with signed_channel(address, "AKIASTRANGER0000000", "not-a-secret") as channel:
        stub = pb_grpc.ExecutionServiceStub(channel)
        # Refused on its headers: nothing is written, so the status is not lost in a write
        # racing the edge's answer.
        call = stub.StreamExecute()
        assert await call.code() == grpc.StatusCode.UNAUTHENTICATED
    async with ShipyardClient(platform.endpoint, other.access_key, other.secret_key) as c:
        with pytest.raises(ApiError) as api_err:
            await c.request("POST", f"/v1/sessions/{session_id}:interrupt", body={})
        assert api_err.value.status == 404


async def _cli(platform: Platform, *args: str) -> asyncio.subprocess.Process:
    assert platform.keypair is not None
    keys = platform.keypair
    return await asyncio.create_subprocess_exec(
        *CLI, "session", "run", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=cli_env(platform, keys.access_key, keys.secret_key),
    )  # fmt: skip


async def test_cli_session_run_streams_answers_input_and_forwards_ctrl_c(
    platform: Platform, session_id: str
) -> None:
    proc = await _cli(platform, session_id, "print('hello', input('name? '))")
    out, err = await asyncio.wait_for(proc.communicate(b"Ada\n"), 60)
    assert (proc.returncode, out.decode()) == (0, "name? hello Ada\n"), err

    code = "import time\nfor i in range(600):\n    print('step', i, flush=True)\n"
    code += "    time.sleep(1)"
    proc = await _cli(platform, session_id, code)
    assert proc.stdout is not None and proc.stderr is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"step 0\n"
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 1
    assert b"KeyboardInterrupt" in await proc.stderr.read()
    proc = await _cli(platform, session_id, "print(i < 30)")  # the kernel kept its state
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert out == b"True\n"


async def test_executions_count_as_use_of_the_session(
    platform: Platform, client: ShipyardClient, session_id: str, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        before = time.time()
        await client.execute(session_id, "1 + 1")
        seen = await session_activity.last_seen(redis, session_id)
        assert seen is not None and seen >= before - 1
    finally:
        await redis.aclose()
