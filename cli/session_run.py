"""`shipyard session run <id> CODE`: run code live (ExecutionService.StreamExecute).

Output is printed as the kernel produces it; input() prompts are answered from this terminal;
Ctrl-C interrupts the cell (the kernel and its state stay), a second Ctrl-C stops waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import signal
import sys
from collections.abc import AsyncIterator, Callable

from google.protobuf.duration_pb2 import Duration
from shipyard.registry.v1 import execution_service_pb2 as pb
from shipyard.registry.v1 import execution_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import execution_pb2 as x

from cli.client import ShipyardClient
from cli.grpc_signing import signed_channel

INTERRUPTED = 130  # the shell's code for "ended by Ctrl-C"


def add_parser(
    session: argparse._SubParsersAction,  # type: ignore[type-arg]
    make_client: Callable[[argparse.Namespace], ShipyardClient],
) -> None:
    async def cmd_session_run(args: argparse.Namespace) -> int:
        code = sys.stdin.read() if args.code == "-" else args.code
        async with make_client(args) as client:
            return await run_live(
                client, args.session_id, code, batch=args.batch, timeout=args.timeout
            )

    run = session.add_parser("run", help="run code with live output, input() and Ctrl-C")
    run.add_argument("session_id")
    run.add_argument("code", help="the code ('-': read it from stdin)")
    run.add_argument("--batch", action="store_true", help="run CODE as a shell command")
    run.add_argument("--timeout", type=float, default=0, help="seconds (default: no limit)")
    run.set_defaults(func=cmd_session_run)


async def run_live(
    client: ShipyardClient, session_id: str, code: str, *, batch: bool = False, timeout: float = 0
) -> int:
    access, secret = client.keypair
    if not access:
        raise SystemExit("session run signs with a keypair: set SHIPYARD_ACCESS_KEY/SECRET_KEY")
    mode = x.EXECUTION_MODE_BATCH if batch else x.EXECUTION_MODE_QUERY
    limit = Duration()
    limit.FromNanoseconds(int(timeout * 1e9))
    start = x.ExecutionCommand(action=x.EXECUTION_ACTION_RUN, mode=mode, code=code, timeout=limit)
    outbox: asyncio.Queue[pb.StreamExecuteRequest | None] = asyncio.Queue()
    outbox.put_nowait(pb.StreamExecuteRequest(session_id=session_id, command=start))

    async def requests() -> AsyncIterator[pb.StreamExecuteRequest]:
        while (request := await outbox.get()) is not None:
            yield request

    channel = signed_channel(client.host, access, secret, tls=client.tls, ca_file=client.ca_file)
    async with channel:
        call = pb_grpc.ExecutionServiceStub(channel).StreamExecute(requests())
        presses = 0

        def on_ctrl_c() -> None:
            nonlocal presses
            presses += 1
            if presses > 1:
                call.cancel()
                return
            stop = x.ExecutionCommand(action=x.EXECUTION_ACTION_INTERRUPT)
            outbox.put_nowait(pb.StreamExecuteRequest(command=stop))
            sys.stderr.write("\n[interrupting; Ctrl-C again to stop waiting]\n")

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, on_ctrl_c)
        try:
            return await _show(call, outbox)
        except asyncio.CancelledError:
            return INTERRUPTED
        finally:
            loop.remove_signal_handler(signal.SIGINT)


async def _show(
    call: AsyncIterator[pb.StreamExecuteResponse],
    outbox: asyncio.Queue[pb.StreamExecuteRequest | None],
) -> int:
    async for response in call:
        event = response.event
        kind = event.WhichOneof("event")
        if kind == "stdout":
            sys.stdout.write(event.stdout)
            sys.stdout.flush()
        elif kind == "stderr":
            sys.stderr.write(event.stderr)
            sys.stderr.flush()
        elif kind == "display":
            sys.stdout.write(_display_text(event.display) + "\n")
            sys.stdout.flush()
        elif kind == "input_request":
            answer = await asyncio.to_thread(_ask, event.input_request)
            command = x.ExecutionCommand(action=x.EXECUTION_ACTION_INPUT, input=answer)
            outbox.put_nowait(pb.StreamExecuteRequest(command=command))
        elif kind == "finished":
            outbox.put_nowait(None)
            return event.finished.exit_code
        elif kind == "error":
            sys.stderr.write(f"error: {event.error}\n")
            outbox.put_nowait(None)
            return 1
    return 1


def _display_text(display: x.DisplayData) -> str:
    """A terminal shows text; other kinds are named with their size."""
    text = display.data.get("text/plain", "")
    others = [
        f"[{mime}: {len(v)} bytes]" for mime, v in display.data.items() if mime != "text/plain"
    ]
    return " ".join(others) if others and text.startswith("<") else text


def _ask(request: x.InputRequest) -> str:
    if request.password:
        return getpass.getpass(request.prompt)
    sys.stdout.write(request.prompt)
    sys.stdout.flush()
    line = sys.stdin.readline()
    return line.removesuffix("\n")
