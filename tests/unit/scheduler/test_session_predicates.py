"""Session predicates: reserved start time, session type, image maximum, dependencies, timeout."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from libs.core.slots import ResourceSlots
from services.scheduler.domain.dependencies import (
    DependenciesMet,
    judge,
)
from services.scheduler.domain.pending_timeout import timed_out, timeout_message
from services.scheduler.domain.placement import place_session
from services.scheduler.domain.predicates import DEFAULT_AGENT_PREDICATES
from services.scheduler.domain.selectors import get_selector
from services.scheduler.domain.session_predicates import (
    ImageMaxSlots,
    ReservedStartTime,
    SessionTypeAllowed,
)
from tests.unit.scheduler.factories import GiB, agent, session

NOW = datetime(2020, 6, 29, tzinfo=UTC)


def _batch(starts_at: datetime | None):
    return replace(session(), session_type="batch", starts_at=starts_at)


@pytest.mark.parametrize(
    ("starts_at", "passes"),
    [
        (None, True),
        (datetime(2020, 6, 29, 0, 0, 1, tzinfo=UTC), False),
        (datetime(2020, 6, 28, 23, 59, 59, tzinfo=UTC), True),
        (datetime(2020, 6, 29, tzinfo=timezone(timedelta(hours=-3))), False),
        (datetime(2020, 6, 29, tzinfo=timezone(timedelta(hours=3))), True),
    ],
)
def test_reserved_start_time_compares_with_timezones(starts_at, passes):
    verdict = ReservedStartTime(lambda: NOW)(_batch(starts_at))
    assert (verdict is None) is passes


def test_reserved_start_time_says_when_and_how_long():
    message = ReservedStartTime(lambda: NOW)(_batch(NOW + timedelta(hours=1)))
    assert message == "starts at 2020-06-29T01:00:00+00:00 (in 3600 s)"


def test_starts_at_binds_only_batch_sessions():
    interactive = replace(session(), starts_at=NOW + timedelta(days=1))
    assert ReservedStartTime(lambda: NOW)(interactive) is None


def test_a_group_admits_only_its_allowed_session_types():
    allowed = {"gpu": ("batch",), "default": ()}
    predicate = SessionTypeAllowed(lambda group: allowed[group])
    assert predicate(replace(session(group="gpu"), session_type="batch")) is None
    assert predicate(session(group="default")) is None  # empty = all types
    message = predicate(session(group="gpu"))
    assert message == "resource group 'gpu' does not run interactive sessions (allowed: batch)"


def test_image_maximum_refuses_a_larger_kernel_naming_slot_and_amounts():
    big = replace(session(cpu=8, mem_gib=4), image_max=ResourceSlots({"cpu": 4}))
    assert ImageMaxSlots()(big) == "a kernel asks more than the image allows (cpu 8 > 4)"
    ok = replace(session(cpu=4, mem_gib=64), image_max=ResourceSlots({"cpu": 4}))
    assert ImageMaxSlots()(ok) is None  # unnamed slots (mem) are unbounded
    mem = replace(session(cpu=1, mem_gib=8), image_max=ResourceSlots({"mem": 4 * GiB}))
    assert ImageMaxSlots()(mem) == "a kernel asks more than the image allows (mem 8 GiB > 4 GiB)"


def test_a_failed_session_predicate_keeps_the_session_pending_with_the_reason():
    predicate = ReservedStartTime(lambda: NOW)
    outcome = place_session(
        _batch(NOW + timedelta(seconds=30)),
        [agent()],
        agent_predicates=DEFAULT_AGENT_PREDICATES,
        session_predicates=[predicate],
        selector=get_selector("least-occupied"),
    )
    assert outcome.reason == "predicate-checks-failed"  # type: ignore[union-attr]
    assert outcome.message.startswith("reserved-time: starts at")  # type: ignore[union-attr]


def _waiting_on(**outcomes: str):
    return replace(
        session(), dependencies=tuple(sorted(outcomes)), dependency_outcomes=dict(outcomes)
    )


def test_dependencies_wait_until_every_one_succeeded():
    waiting = _waiting_on(d1="succeeded", d2="running", d3="running")
    verdict = judge(waiting)
    assert not verdict.ready and not verdict.cancel
    assert verdict.message == "waiting for 2 of 3 dependencies to succeed: d2, d3"
    assert DependenciesMet()(waiting) == verdict.message
    done = _waiting_on(d1="succeeded", d2="succeeded")
    assert judge(done).ready
    assert DependenciesMet()(done) is None
    assert DependenciesMet()(session()) is None  # no dependencies


@pytest.mark.parametrize("outcomes", [{"d1": "failed", "d2": "running"}, {}])
def test_a_failed_or_unreported_dependency_cancels_the_session(outcomes):
    waiting = replace(session(), dependencies=("d1", "d2"), dependency_outcomes=outcomes)
    verdict = judge(waiting)
    assert verdict.cancel and not verdict.ready
    assert verdict.message == "dependency d1 did not finish successfully"


def test_pending_timeout_cancels_only_sessions_older_than_their_groups_limit():
    now = datetime(2026, 1, 10, tzinfo=UTC)
    fresh = replace(session(session_id="fresh"), create_time=now)
    day = replace(session(session_id="day"), create_time=now - timedelta(days=1))
    old = replace(session(session_id="old"), create_time=now - timedelta(days=3))
    limit = timedelta(days=2)
    expired = timed_out([fresh, day, old], now=now, timeout_for=lambda _g: limit)
    assert [s.session_id for s in expired] == ["old"]
    assert timed_out([old], now=now, timeout_for=lambda _g: timedelta(0)) == []
    assert timeout_message(old, now, limit) == (
        "pending for 259200 s, longer than resource group 'default' allows (172800 s)"
    )
