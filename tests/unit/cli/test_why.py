"""`shipyard session why`: what it prints for pending and settled sessions."""

from __future__ import annotations

import argparse

from cli.why import add_scheduling_args, explain, scheduling_body

SID = "7d4a3c52-0000-4000-8000-000000000001"


def _pending(**fields: object) -> dict[str, object]:
    return {
        "session_id": SID,
        "status": "SESSION_STATUS_PENDING",
        "resource_group": "gpu",
        "status_info": "no-available-instances",
        "status_message": "cpu short by 2 on 7 of 10 agents",
        **fields,
    }


def test_a_pending_session_shows_reason_detail_and_place_in_line():
    queue = [
        {"session_id": "other", "queue_position": 1, "queue_length": 3},
        {
            "session_id": SID,
            "queue_position": 2,
            "queue_length": 3,
            "resource_group": "gpu",
            "attempts": 4,
        },
    ]
    assert explain(_pending(), queue) == (
        f"session {SID}: PENDING\n"
        "reason: no-available-instances\n"
        "detail: cpu short by 2 on 7 of 10 agents\n"
        "queue: 2 of 3 in resource group 'gpu' (4 failed attempts)"
    )


def test_a_session_not_yet_tried_or_listed_says_so():
    text = explain(_pending(status_info="", status_message=""), [])
    assert text.splitlines()[1:] == [
        "reason: not tried yet",
        "queue: the scheduler has not listed it yet",
    ]


def test_a_session_that_left_the_queue_shows_its_last_reason():
    ended = _pending(
        status="SESSION_STATUS_CANCELLED",
        status_info="pending-timeout",
        status_message="pending for 7200 s, longer than resource group 'gpu' allows (3600 s)",
    )
    assert explain(ended, []) == (
        f"session {SID}: CANCELLED\n"
        "not pending; last reason: pending-timeout\n"
        "pending for 7200 s, longer than resource group 'gpu' allows (3600 s)"
    )


def test_create_flags_become_the_scheduling_fields_of_the_request():
    parser = argparse.ArgumentParser()
    add_scheduling_args(parser)
    args = parser.parse_args(
        ["--priority", "5", "--preemptible", "--depends-on", "a", "--depends-on", "b"]
    )
    assert scheduling_body(args) == {
        "priority": 5,
        "preemptible": True,
        "dependencies": ["a", "b"],
    }
    assert scheduling_body(parser.parse_args([])) == {}
