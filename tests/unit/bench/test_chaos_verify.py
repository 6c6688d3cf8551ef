"""How the chaos benchmark judges what became of the sessions it submitted."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from bench.chaos.load import Submission
from bench.chaos.verify import Snapshot, judge, stuck


def _session(sid: str, token: str, status: str, held_s: float = 0.0) -> dict[str, Any]:
    return {
        "id": sid,
        "client_token": token,
        "status": status,
        "status_info": "",
        "status_message": "",
        "held_s": held_s,
    }


def _kernel(sid: str, agent: str, status: str, cpu: str = "0.5") -> dict[str, Any]:
    return {
        "session_id": sid,
        "agent_id": agent,
        "status": status,
        "status_info": "",
        "exit_code": None,
        "requested_slots": json.dumps({"cpu": cpu}),
    }


def _snap(
    sessions: list[dict[str, Any]],
    kernels: list[dict[str, Any]] | None = None,
    occupied: dict[str, dict[str, str]] | None = None,
) -> Snapshot:
    return Snapshot(
        sessions={s["id"]: s for s in sessions},
        per_token=Counter(s["client_token"] for s in sessions),
        kernels=kernels or [],
        agents=[
            {"id": a, "status": "ALIVE", "occupied_slots": json.dumps(slots)}
            for a, slots in (occupied or {}).items()
        ],
    )


def test_a_missing_or_unfinished_acknowledged_session_is_lost() -> None:
    subs = [Submission("t1", "s1"), Submission("t2", "s2"), Submission("t3", "s3")]
    snap = _snap([_session("s1", "t1", "TERMINATED"), _session("s2", "t2", "PREPARING")])

    verdict = judge(snap, subs)

    assert verdict.acknowledged == 3
    assert sorted(verdict.lost) == ["s2", "s3"]


def test_a_session_that_ended_with_a_reason_is_not_lost() -> None:
    ended = _session("s1", "t1", "ERROR")
    ended["status_info"] = "agent-lost"

    verdict = judge(_snap([ended]), [Submission("t1", "s1")])

    assert verdict.lost == []
    assert verdict.outcomes == Counter({"ERROR agent-lost on unplaced": 1})


def test_an_unacknowledged_creation_is_neither_acknowledged_nor_lost() -> None:
    verdict = judge(_snap([]), [Submission("t1", refused="HTTP 400: bad")])
    assert (verdict.acknowledged, verdict.lost) == (0, [])


def test_two_sessions_for_one_client_token_are_a_duplicate() -> None:
    snap = _snap([_session("s1", "t1", "TERMINATED"), _session("s2", "t1", "TERMINATED")])
    assert judge(snap, [Submission("t1", "s1")]).duplicated == ["t1"]


def test_occupied_slots_must_match_the_live_kernels() -> None:
    sessions = [_session("s1", "t1", "RUNNING"), _session("s2", "t2", "TERMINATED")]
    kernels = [_kernel("s1", "a1", "RUNNING"), _kernel("s2", "a1", "TERMINATED")]
    matching = _snap(sessions, kernels, {"a1": {"cpu": "0.5"}, "a2": {}})
    drifted = _snap(sessions, kernels, {"a1": {"cpu": "1.0"}, "a2": {"cpu": "0.5"}})

    assert judge(matching, []).leaked == []
    assert len(judge(drifted, []).leaked) == 2  # both agents disagree with their kernels


def test_a_kernel_of_an_ended_session_that_still_holds_slots_is_a_leak() -> None:
    snap = _snap(
        [_session("s1", "t1", "CANCELLED")],
        [_kernel("s1", "a1", "RUNNING")],
        {"a1": {"cpu": "0.5"}},
    )
    leaked = judge(snap, []).leaked
    assert any("ended session s1" in line for line in leaked)


def test_stuck_means_live_and_unchanged_for_the_whole_window() -> None:
    subs = [Submission(t, s) for t, s in (("t1", "s1"), ("t2", "s2"), ("t3", "s3"))]
    snap = _snap(
        [
            _session("s1", "t1", "PREPARING", held_s=45.0),
            _session("s2", "t2", "RUNNING", held_s=3.0),
            _session("s3", "t3", "TERMINATED", held_s=90.0),
        ]
    )
    assert stuck(snap, subs, 30.0) == ["s1"]
