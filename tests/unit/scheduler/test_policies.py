"""Policies against the documented behaviour (scheduling algorithms; the fixture cases)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from libs.core.errors import InvalidArgument
from libs.core.slots import ResourceSlots
from services.scheduler.domain.model import ActiveSession, PendingKernel, PendingSession
from services.scheduler.domain.policy import POLICIES, QueueContext, get_policy
from services.scheduler.domain.policy.drf import dominant_share
from tests.unit.scheduler.factories import T0, session


def _ids(sessions: list[PendingSession]) -> list[str]:
    return [s.session_id for s in sessions]


def _fifo_queue() -> list[PendingSession]:
    return [session(session_id=f"s{i}", age=i) for i in range(3)]


def test_every_policy_is_registered_by_name():
    assert sorted(POLICIES) == ["drf", "fifo", "lifo", "priority"]
    assert {get_policy(name).name for name in POLICIES} == set(POLICIES)


def test_fifo_tries_the_oldest_first_and_lifo_the_newest():
    queue = _fifo_queue()[::-1]
    assert _ids(get_policy("fifo").order(queue)) == ["s0", "s1", "s2"]
    assert _ids(get_policy("lifo").order(queue)) == ["s2", "s1", "s0"]


@pytest.mark.parametrize(
    ("retries", "skip", "first"),
    [
        ({"s0": 5}, "0", "s0"),  # 0 = strict FIFO even after many failures
        ({"s0": 5}, "5", "s1"),
        ({"s0": 5, "s1": 10}, "5", "s2"),
        ({"s0": 5, "s1": 5, "s2": 7}, "5", "s0"),  # all skipped: the first skipped
        ({"s1": 10}, "5", "s0"),
    ],
)
def test_fifo_num_retries_to_skip_sends_repeat_failures_to_the_back(retries, skip, first):
    policy = get_policy("fifo", {"num_retries_to_skip": skip})
    ordered = policy.order(_fifo_queue(), QueueContext(attempts=retries))
    assert ordered[0].session_id == first
    assert len(ordered) == 3  # skipped sessions are still tried, after the others


def test_fifo_keeps_creation_order_among_skipped_sessions():
    policy = get_policy("fifo", {"num_retries_to_skip": "1"})
    ordered = policy.order(_fifo_queue(), QueueContext(attempts={"s0": 1, "s1": 2}))
    assert _ids(ordered) == ["s2", "s0", "s1"]


@pytest.mark.parametrize("bad", ["-1", "three"])
def test_fifo_rejects_a_bad_num_retries_to_skip_naming_the_option(bad):
    with pytest.raises(InvalidArgument) as err:
        get_policy("fifo", {"num_retries_to_skip": bad})
    assert err.value.violations[0].field == "scheduler_options.num_retries_to_skip"


def test_an_unknown_policy_name_is_refused():
    with pytest.raises(InvalidArgument, match="unknown scheduling policy 'sjf'"):
        get_policy("sjf")


def test_priority_runs_the_highest_priority_first_and_fifo_within():
    low_old = replace(session(session_id="low-old", age=0), priority=1)
    high_new = replace(session(session_id="high-new", age=5), priority=10)
    high_old = replace(session(session_id="high-old", age=1), priority=10)
    ordered = get_policy("priority").order([low_old, high_new, high_old])
    assert _ids(ordered) == ["high-old", "high-new", "low-old"]


def _pending(sid: str, user: str, days: int, **amounts: str) -> PendingSession:
    return PendingSession(
        session_id=sid,
        access_key=user,
        owner_user_id=user,
        resource_group="default",
        create_time=T0 + timedelta(days=days),
        kernels=(PendingKernel(kernel_id=str(uuid.uuid4()), requested=ResourceSlots(amounts)),),
    )


def _held(user: str, **amounts: str) -> ActiveSession:
    return ActiveSession(
        session_id=str(uuid.uuid4()),
        access_key=user,
        owner_user_id=user,
        project_id="p",
        domain_name="d",
        slots=ResourceSlots(amounts),
    )


def test_drf_picks_the_user_with_the_smallest_dominant_share():
    # The documented fixture: capacity cpu 4, mem 4096; user02 holds the smallest share (0.5).
    capacity = ResourceSlots({"cpu": 4, "mem": 4096})
    pending = [
        _pending("p0", "user01", 0, cpu="2", mem="1024"),
        _pending("p1", "user02", 35, cpu="1", mem="2048"),
        _pending("p2", "user03", -27, cpu="1", mem="1024"),
    ]
    active = [
        _held("user01", cpu="3", mem="1024"),
        _held("user02", cpu="1", mem="2048"),
        _held("user03", cpu="4", mem="4096"),
    ]
    ordered = get_policy("drf").order(pending, QueueContext(active=active, capacity=capacity))
    assert ordered[0].session_id == "p1"
    assert _ids(ordered) == ["p1", "p0", "p2"]


def test_drf_ignores_slots_the_group_has_no_capacity_of():
    capacity = ResourceSlots({"cpu": 4, "mem": 4096})
    held = ResourceSlots({"cpu": 1, "mem": 1024, "cuda.shares": "0.5"})
    assert dominant_share(held, capacity) == pytest.approx(0.25)


def test_drf_interleaves_users_instead_of_serving_one_burst():
    capacity = ResourceSlots({"cpu": 10})
    burst = [_pending(f"a{i}", "alice", i, cpu="2") for i in range(3)]
    bob = [_pending("b0", "bob", 5, cpu="2"), _pending("b1", "bob", 6, cpu="2")]
    ordered = get_policy("drf").order(burst + bob, QueueContext(capacity=capacity))
    assert _ids(ordered) == ["a0", "b0", "a1", "b1", "a2"]
