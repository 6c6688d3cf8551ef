"""What became of the submitted sessions, read from the benchmark's own database."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from bench.chaos.load import Submission

FINAL = ("TERMINATED", "CANCELLED", "ERROR")
OCCUPYING = ("SCHEDULED", "PULLING", "PREPARING", "RUNNING", "TERMINATING")


@dataclass
class Snapshot:
    sessions: dict[str, dict[str, Any]]  # by session id
    per_token: Counter[str]
    kernels: list[dict[str, Any]]
    agents: list[dict[str, Any]]


async def snapshot(dsn: str, access_key: str) -> Snapshot:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text, client_token, status, status_info, status_message,"
            " extract(epoch FROM now() - status_changed_at) AS held_s"
            " FROM registry.sessions WHERE access_key = $1",
            access_key,
        )
        kernels = await conn.fetch(
            "SELECT session_id::text, agent_id, status, status_info, exit_code,"
            " requested_slots::text FROM registry.kernels"
        )
        agents = await conn.fetch("SELECT id, status, occupied_slots::text FROM registry.agents")
    finally:
        await conn.close()
    return Snapshot(
        sessions={r["id"]: dict(r) for r in rows},
        per_token=Counter(r["client_token"] for r in rows if r["client_token"]),
        kernels=[dict(k) for k in kernels],
        agents=[dict(a) for a in agents],
    )


async def snapshot_retrying(dsn: str, access_key: str, limit: float = 60.0) -> Snapshot:
    deadline = time.monotonic() + limit
    while True:
        try:
            return await snapshot(dsn, access_key)
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


def live_ids(snap: Snapshot, acked: list[Submission]) -> list[str]:
    return [
        s.session_id
        for s in acked
        if s.session_id in snap.sessions and snap.sessions[s.session_id]["status"] not in FINAL
    ]


def stuck(snap: Snapshot, acked: list[Submission], held_s: float) -> list[str]:
    """Live sessions whose status has not changed for `held_s` seconds."""
    return [sid for sid in live_ids(snap, acked) if snap.sessions[sid]["held_s"] >= held_s]


@dataclass
class Verdict:
    acknowledged: int
    lost: list[str]
    duplicated: list[str]
    leaked: list[str]
    outcomes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)


def judge(snap: Snapshot, subs: list[Submission]) -> Verdict:
    acked = [s for s in subs if s.session_id]
    lost = [s.session_id for s in acked if s.session_id not in snap.sessions]
    lost += live_ids(snap, acked)
    duplicated = [t for t, n in snap.per_token.items() if n > 1]
    verdict = Verdict(len(acked), lost, duplicated, leaked_slots(snap))
    placed: dict[str, set[str]] = {}
    for k in snap.kernels:
        placed.setdefault(k["session_id"], set()).add(k["agent_id"] or "unplaced")
    for sub in acked:
        row = snap.sessions.get(sub.session_id)
        key = "missing"
        if row is not None:
            on = ",".join(sorted(placed.get(sub.session_id, {"unplaced"})))
            key = f"{row['status']} {row['status_info'] or '-'} on {on}"
        verdict.outcomes[key] += 1
        if row is not None and key not in verdict.examples:
            verdict.examples[key] = f"{sub.session_id} {row['status_message'][:160]!r}"
    return verdict


def leaked_slots(snap: Snapshot) -> list[str]:
    """Agents whose recorded occupied slots differ from the sum over their live kernels (those
    in a slot-holding status of a session that is not over), and slot-holding kernels of
    sessions that are over."""
    final = {sid for sid, row in snap.sessions.items() if row["status"] in FINAL}
    expected: dict[str, dict[str, Decimal]] = {a["id"]: {} for a in snap.agents}
    problems: list[str] = []
    for k in snap.kernels:
        if k["status"] not in OCCUPYING or k["agent_id"] is None:
            continue
        if k["session_id"] in final:
            problems.append(
                f"kernel of ended session {k['session_id']} holds slots ({k['status']})"
            )
            continue
        for slot, amount in _slots(k["requested_slots"]).items():
            held = expected.setdefault(k["agent_id"], {})
            held[slot] = held.get(slot, Decimal(0)) + amount
    for agent in snap.agents:
        recorded = {k: v for k, v in _slots(agent["occupied_slots"]).items() if v}
        wanted = {k: v for k, v in expected[agent["id"]].items() if v}
        if recorded != wanted:
            problems.append(f"agent {agent['id']} records {recorded} for live kernels' {wanted}")
    return problems


def _slots(text: str) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in json.loads(text).items()}
