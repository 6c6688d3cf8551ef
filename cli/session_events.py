"""`shipyard session events <id>`: follow a session's lifecycle events over the edge's gRPC.

Each event is one line (or one JSON object with `--json`); while nothing happens a status line on
stderr shows how long the session has waited in its current state (when stderr is a terminal).
The command ends with the session's final event; `--last-event-id` resumes after an event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from shipyard.registry.v1 import user_event_service_pb2 as pb
from shipyard.registry.v1 import user_event_service_pb2_grpc as pb_grpc

from cli.client import ShipyardClient
from cli.vfolder_transfer import edge_channel

ClientFactory = Callable[[argparse.Namespace], ShipyardClient]


def describe(item: pb.WatchSessionEventsResponse) -> str:
    """One line for a person: time, event id and name, kernel, reason, exit code, message."""
    event = item.event
    when = event.create_time.ToDatetime().strftime("%H:%M:%S")
    parts = [when, item.event_id, item.name]
    if event.kernel_id:
        parts.append(f"kernel={event.kernel_id}")
    if event.reason:
        parts.append(f"reason={event.reason}")
    if event.HasField("exit_code"):
        parts.append(f"exit_code={event.exit_code}")
    if event.message:
        parts.append(f"message={event.message!r}")
    return " ".join(parts)


class Waiting:
    """A status line on stderr while no event arrives: the last state and the time since."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.state = "connecting"
        self.since = time.monotonic()

    def moved(self, state: str) -> None:
        self.state, self.since = state, time.monotonic()
        self.clear()

    def clear(self) -> None:
        if self.enabled:
            print("\r\033[K", end="", file=sys.stderr, flush=True)

    async def run(self) -> None:
        while self.enabled:
            waited = time.monotonic() - self.since
            print(f"\r{self.state}: waiting {waited:5.0f}s", end="", file=sys.stderr, flush=True)
            await asyncio.sleep(1.0)


async def follow(client: ShipyardClient, args: argparse.Namespace) -> int:
    request = pb.WatchSessionEventsRequest(
        session_id=args.session_id, last_event_id=args.last_event_id or ""
    )
    waiting = Waiting(sys.stderr.isatty() and not args.json)
    ticker = asyncio.create_task(waiting.run())
    try:
        async with edge_channel(client) as channel:
            stub = pb_grpc.UserEventServiceStub(channel)
            async for event in stub.WatchSessionEvents(request):
                waiting.moved(event.event.status or event.name)
                if args.json:
                    data: dict[str, Any] = MessageToDict(event)
                    print(json.dumps(data), flush=True)
                else:
                    print(describe(event), flush=True)
    except grpc.aio.AioRpcError as exc:
        waiting.clear()
        print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        waiting.clear()
    return 0


def add_events_command(session: argparse._SubParsersAction, make_client: ClientFactory) -> None:  # type: ignore[type-arg]
    async def cmd_session_events(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            return await follow(client, args)

    events = session.add_parser(
        "events", help="follow a session's lifecycle events until it ends (docs/events.md)"
    )
    events.add_argument("session_id")
    events.add_argument("--last-event-id", help="resume after this event id")
    events.add_argument("--json", action="store_true", help="one JSON object per event")
    events.set_defaults(func=cmd_session_events)
