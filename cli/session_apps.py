"""`shipyard session app <id> <app> [--open]` and `shipyard session apps <id>` (docs/apps.md)."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from collections.abc import Callable
from typing import Any

from cli.client import ShipyardClient

ClientFactory = Callable[[argparse.Namespace], ShipyardClient]


def open_in_browser(url: str) -> bool:
    """Open `url` in the desktop's browser; False when this machine has none."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    return bool(browser.open(url))


def register(session: Any, make_client: ClientFactory) -> None:
    """Add the app commands to `shipyard session`'s subparsers."""

    async def cmd_app(args: argparse.Namespace) -> int:
        body: dict[str, Any] = {}
        if args.ttl:
            body["token_ttl"] = f"{args.ttl}s"
        async with make_client(args) as client:
            path = f"/v1/sessions/{args.session_id}/apps/{args.app}:start"
            opened = await client.request("POST", path, body=body)
        print(opened["url"])
        if args.open and not open_in_browser(opened["url"]):
            print("no browser found here: open the URL above yourself", file=sys.stderr)
        return 0

    async def cmd_apps(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            listed = await client.request("GET", f"/v1/sessions/{args.session_id}/apps")
        for app in listed.get("apps", []):
            print(f"{app['name']}\t{app['protocol']}\t{app['port']}")
        return 0

    app = session.add_parser(
        "app", help="open an app of a session (prints its URL; the token in it opens it)"
    )
    app.add_argument("session_id")
    app.add_argument("app", help="e.g. echo, jupyter (see `shipyard session apps`)")
    app.add_argument("--open", action="store_true", help="also open it in a browser, if any")
    app.add_argument("--ttl", type=int, default=0, help="token lifetime in seconds")
    app.set_defaults(func=cmd_app)
    apps = session.add_parser("apps", help="the apps a session can open")
    apps.add_argument("session_id")
    apps.set_defaults(func=cmd_apps)
