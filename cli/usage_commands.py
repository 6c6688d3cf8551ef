"""`shipyard usage ...` (what sessions used) and the idle lines of `shipyard session info`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from typing import Any

from cli.client import ShipyardClient

ClientFactory = Callable[[argparse.Namespace], ShipyardClient]
GIB = 1024**3


def _seconds(duration: str) -> float:
    """A proto3 JSON Duration ("1799.5s") in seconds."""
    return float(duration.removesuffix("s"))


def _human(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def remaining_lines(session: Mapping[str, Any]) -> list[str]:
    """What the idle checkers leave the session: shown by `shipyard session info`."""
    lines = []
    if "idle_timeout" in session:
        timeout = _human(_seconds(session["idle_timeout"]))
        left = session.get("idle_time_remaining")
        when = f"{_human(_seconds(left))} left" if left is not None else "not running"
        lines.append(f"idle timeout {timeout}: {when} before it ends unused (idle-timeout)")
    if "expire_time" in session:
        left = session.get("lifetime_remaining")
        when = f", {_human(_seconds(left))} left" if left is not None else ""
        lines.append(f"max lifetime: ends at {session['expire_time']}{when}")
    return lines


def _params(args: argparse.Namespace) -> dict[str, str]:
    params = {
        "filter.user_id": args.user,
        "filter.project_id": args.project,
        "filter.domain_name": args.domain,
        "start_time": args.start,
        "end_time": args.end,
    }
    return {k: v for k, v in params.items() if v}


def _table(records: list[dict[str, Any]]) -> str:
    head = (
        f"{'USER':<36}  {'PROJECT':<36}  SESSIONS  KERNELS  {'HOURS':>9}  {'CPU-H':>9}  MEM-GIB-H"
    )
    rows = [head]
    for r in records:
        slots = r.get("slot_seconds", {})
        rows.append(
            f"{r.get('user_id', ''):<36}  {r.get('project_id', ''):<36}  "
            f"{r.get('session_count', 0):>8}  {r.get('kernel_count', 0):>7}  "
            f"{r.get('used_seconds', 0) / 3600:>9.2f}  {slots.get('cpu', 0) / 3600:>9.2f}  "
            f"{slots.get('mem', 0) / 3600 / GIB:>9.2f}"
        )
    return "\n".join(rows)


def register(sub: argparse._SubParsersAction, make_client: ClientFactory) -> None:  # type: ignore[type-arg]
    """Add `shipyard usage report|series`."""

    async def cmd_report(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            reply = await client.request("GET", "/v1/usage", params=_params(args))
        print(json.dumps(reply, indent=2) if args.json else _table(reply.get("records", [])))
        return 0

    async def cmd_series(args: argparse.Namespace) -> int:
        params = _params(args)
        if args.bin:
            params["bin_width"] = args.bin
        async with make_client(args) as client:
            print(json.dumps(await client.request("GET", "/v1/usage/series", params=params)))
        return 0

    usage = sub.add_parser("usage", help="what sessions used").add_subparsers(required=True)
    report = usage.add_parser("report", help="per user and project over a period (a table)")
    series = usage.add_parser("series", help="per bin (default: 30 days of 15-minute bins)")
    for p in (report, series):
        p.add_argument("--user", help="only this user id")
        p.add_argument("--project", help="only this project id")
        p.add_argument("--domain", help="only this domain")
        p.add_argument("--start", help="RFC 3339 time (default: 30 days before --end)")
        p.add_argument("--end", help="RFC 3339 time (default: now)")
    report.add_argument("--json", action="store_true")
    report.set_defaults(func=cmd_report)
    series.add_argument("--bin", help="bin width, e.g. 900s (default 15 minutes)")
    series.set_defaults(func=cmd_series)
