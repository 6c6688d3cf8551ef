"""Whose fault a failed start is decides between ending the session and re-queueing it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.core.errors import Internal, InvalidArgument, NotFound, Unavailable
from services.registry.domain.errors import AgentUnavailable
from services.registry.domain.start_failures import Fault, RetryPolicy, classify


def created(cause: str) -> Internal:
    return Internal(
        "could not create kernel(s) k", reason="KERNEL_CREATE_FAILED", metadata={"cause": cause}
    )


def test_faults_outside_the_session_requeue_it() -> None:
    assert classify(AgentUnavailable("UNAVAILABLE: connection refused")) is Fault.AGENT
    assert classify(TimeoutError()) is Fault.AGENT
    assert classify(created("FileNotFoundError")) is Fault.AGENT  # a vanished cgroup parent
    assert classify(created("KERNEL_START_FAILED")) is Fault.AGENT  # runner missed its deadline
    assert (
        classify(Unavailable("the agent is shutting down", reason="AGENT_SHUTTING_DOWN"))
        is Fault.AGENT
    )


def test_the_sessions_own_faults_end_it() -> None:
    assert classify(InvalidArgument("bad slots")) is Fault.SESSION
    assert classify(NotFound("no such image")) is Fault.SESSION
    assert classify(created("INVALID_ARGUMENT")) is Fault.SESSION
    assert classify(created("IMAGE_NOT_FOUND")) is Fault.SESSION


def test_backoff_doubles_up_to_its_cap_and_attempts_are_bounded() -> None:
    policy = RetryPolicy(
        max_attempts=3, backoff=timedelta(seconds=2), max_backoff=timedelta(seconds=5)
    )
    now = datetime.now(UTC)
    assert [policy.not_before(n, now) - now for n in (1, 2, 3)] == [
        timedelta(seconds=2),
        timedelta(seconds=4),
        timedelta(seconds=5),
    ]
    assert not policy.exhausted(2) and policy.exhausted(3)
