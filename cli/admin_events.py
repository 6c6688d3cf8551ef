"""`shipyard admin events dlq list|replay ID...|replay --all`: dead letters (superadmins)."""

from __future__ import annotations

import argparse
from typing import Any

from cli.admin_registry import ClientFactory, print_result
from cli.client import ShipyardClient

DLQ_PATH = "/v1/admin/events/dead-letters"
DLQ_COLUMNS = ("dead_letter_id", "event_id", "failures", "park_time", "error")
REPLAY_COLUMNS = ("dead_letter_id", "outcome", "new_entry_id")


async def dlq_list(_args: argparse.Namespace, client: ShipyardClient) -> list[Any]:
    items: list[Any] = []
    token = ""
    while True:
        page = await client.request("GET", DLQ_PATH, params={"page_size": 500, "page_token": token})
        items += page.get("dead_letters", [])
        token = page.get("next_page_token", "")
        if not token:
            return items


async def dlq_replay(args: argparse.Namespace, client: ShipyardClient) -> list[Any]:
    if args.all == bool(args.ids):
        raise SystemExit("shipyard admin events dlq replay: give dead letter ids or --all")
    body: dict[str, Any] = {"all": True} if args.all else {"dead_letter_ids": args.ids}
    reply = await client.request("POST", f"{DLQ_PATH}:replay", body=body)
    rows = [{**r, "outcome": "replayed"} for r in reply.get("replayed", [])]
    rows += [{"dead_letter_id": i, "outcome": "not parked"} for i in reply.get("not_found", [])]
    return rows


def register(admin: argparse._SubParsersAction, make_client: ClientFactory) -> None:  # type: ignore[type-arg]
    """Add `shipyard admin events dlq ...`."""
    events = admin.add_parser("events", help="event streams").add_subparsers(required=True)
    dlq = events.add_parser("dlq", help="dead letters: events consumers gave up on")
    verbs = dlq.add_subparsers(required=True)

    def add(name: str, handler: Any, columns: tuple[str, ...], help_text: str) -> Any:
        parser = verbs.add_parser(name, help=help_text)
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

        async def run(args: argparse.Namespace) -> int:
            async with make_client(args) as client:
                print_result(await handler(args, client), columns, args.json)
            return 0

        parser.set_defaults(func=run)
        return parser

    add("list", dlq_list, DLQ_COLUMNS, "list parked events, oldest first")
    replay = add("replay", dlq_replay, REPLAY_COLUMNS, "put parked events back on their stream")
    replay.add_argument("ids", nargs="*", help="dead letter ids, as `list` shows them")
    replay.add_argument("--all", action="store_true", help="replay every parked event")
