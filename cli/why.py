"""`shipyard session why ID`: why a session is still pending, and where it waits in line.

Reads the session (`GET /v1/sessions/{id}`: the last decision's reason and detail) and the
scheduler's queue (`GET /v1/scheduler/pending-sessions`: the session's place in its resource
group's queue, in the order the group's policy tries sessions). See docs/scheduling.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cli.client import ShipyardClient

PENDING = "SESSION_STATUS_PENDING"


def explain(session: Mapping[str, Any], queue: Sequence[Mapping[str, Any]]) -> str:
    """The text `shipyard session why` prints."""
    status = str(session.get("status", "")).removeprefix("SESSION_STATUS_")
    lines = [f"session {session.get('session_id', '')}: {status}"]
    if session.get("status") != PENDING:
        reason = session.get("status_info") or "-"
        lines.append(f"not pending; last reason: {reason}")
        if session.get("status_message"):
            lines.append(str(session["status_message"]))
        return "\n".join(lines)
    reason = session.get("status_info") or ""
    lines.append(f"reason: {reason or 'not tried yet'}")
    if session.get("status_message"):
        lines.append(f"detail: {session['status_message']}")
    entry = next((q for q in queue if q.get("session_id") == session.get("session_id")), None)
    if entry is not None and int(entry.get("queue_position", 0)):
        lines.append(
            f"queue: {entry['queue_position']} of {entry['queue_length']} in resource group "
            f"'{entry.get('resource_group', '')}' ({entry.get('attempts', 0)} failed attempts)"
        )
    else:
        lines.append("queue: the scheduler has not listed it yet")
    return "\n".join(lines)


async def cmd_session_why(
    args: argparse.Namespace,
    client_for: Callable[[argparse.Namespace], ShipyardClient],
) -> int:
    async with client_for(args) as client:
        session = await client.get_session(args.session_id)
        queue: list[dict[str, Any]] = []
        if session.get("status") == PENDING:
            reply = await client.request(
                "GET",
                "/v1/scheduler/pending-sessions",
                params={"resource_group": session.get("resource_group", "")},
            )
            queue = list(reply.get("sessions", []))
    print(explain(session, queue))
    return 0


def add_scheduling_args(create: argparse.ArgumentParser) -> None:
    create.add_argument("--priority", type=int, help="0..100, at most your policy allows")
    create.add_argument("--preemptible", action="store_true", help="may be preempted")
    create.add_argument(
        "--requeue-on-preemption", action="store_true", help="queue again (not end) when preempted"
    )
    create.add_argument(
        "--requeue-on-agent-loss", action="store_true", help="queue again if its agent is lost"
    )
    create.add_argument("--starts-at", help="batch only: ISO-8601 time, e.g. 2026-01-01T10:00Z")
    create.add_argument("--depends-on", action="append", help="session id (repeatable)")
    create.add_argument("--expected-duration", type=int, help="expected run time in seconds")


def scheduling_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if args.priority is not None:
        body["priority"] = args.priority
    if args.preemptible:
        body["preemptible"] = True
    if args.requeue_on_preemption:
        body["requeue_on_preemption"] = True
    if args.requeue_on_agent_loss:
        body["requeue_on_agent_loss"] = True
    if args.starts_at:
        body["starts_at"] = args.starts_at
    if args.depends_on:
        body["dependencies"] = args.depends_on
    if args.expected_duration is not None:
        body["expected_duration_seconds"] = args.expected_duration
    return body
