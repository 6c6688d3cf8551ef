import pytest

from services.registry.domain.model import Status
from services.registry.domain.transitions import (
    derive_session_status,
    kernel_can_transit,
    lost_kernel_status,
    reported_kernel_status,
    session_can_transit,
)

S = Status


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PENDING, S.SCHEDULED),
        (S.PENDING, S.CANCELLED),
        (S.SCHEDULED, S.PREPARING),
        (S.PREPARING, S.RUNNING),
        (S.PREPARING, S.CANCELLED),
        (S.PREPARING, S.PULLING),  # the agent pulls the image first
        (S.PULLING, S.RUNNING),
        (S.PULLING, S.CANCELLED),  # the pull failed
        (S.RUNNING, S.TERMINATING),
        (S.RUNNING, S.TERMINATED),
        (S.TERMINATING, S.TERMINATED),
        (S.TERMINATING, S.ERROR),
    ],
)
def test_allowed_moves(current: Status, new: Status) -> None:
    assert kernel_can_transit(current, new)
    assert session_can_transit(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PENDING, S.TERMINATED),  # never ran: it is cancelled, not terminated
        (S.PENDING, S.RUNNING),  # a "started" for a kernel never placed or claimed
        (S.PENDING, S.PREPARING),
        (S.SCHEDULED, S.RUNNING),  # a "started" before the starter claimed the session
        (S.SCHEDULED, S.PULLING),
        (S.SCHEDULED, S.PENDING),  # no going back to the queue
        (S.PREPARING, S.SCHEDULED),
        (S.RUNNING, S.PREPARING),  # a late "creating" event after start
        (S.RUNNING, S.PULLING),  # a late "pulling" event after start
        (S.PULLING, S.PULLING),  # one more progress event
        (S.PULLING, S.SCHEDULED),
        (S.RUNNING, S.RUNNING),  # a duplicate "started"
        (S.RUNNING, S.CANCELLED),
        (S.TERMINATING, S.RUNNING),  # a late "started" after destroy
        (S.TERMINATED, S.TERMINATED),  # a duplicate "terminated"
        (S.TERMINATED, S.RUNNING),
        (S.CANCELLED, S.RUNNING),  # started after the start was cancelled
        (S.ERROR, S.TERMINATED),
    ],
)
def test_refused_moves(current: Status, new: Status) -> None:
    assert not kernel_can_transit(current, new)
    assert not session_can_transit(current, new)


def test_terminal_states_have_no_exit() -> None:
    for terminal in (S.TERMINATED, S.CANCELLED, S.ERROR):
        assert not any(kernel_can_transit(terminal, s) for s in Status)


def test_session_follows_main_kernel_when_alone() -> None:
    assert derive_session_status(S.PREPARING, []) is S.PREPARING
    assert derive_session_status(S.RUNNING, []) is S.RUNNING
    assert derive_session_status(S.TERMINATED, []) is S.TERMINATED


def test_running_waits_for_every_kernel() -> None:
    assert derive_session_status(S.RUNNING, [S.RUNNING, S.PREPARING]) is S.PREPARING
    assert derive_session_status(S.RUNNING, [S.RUNNING, S.RUNNING]) is S.RUNNING
    assert derive_session_status(S.RUNNING, [S.PULLING]) is S.PULLING


def test_terminated_waits_for_every_kernel_and_reports_errors() -> None:
    assert derive_session_status(S.TERMINATED, [S.TERMINATING]) is S.TERMINATING
    assert derive_session_status(S.TERMINATED, [S.ERROR]) is S.ERROR
    assert derive_session_status(S.TERMINATED, [S.TERMINATED, S.CANCELLED]) is S.TERMINATED


@pytest.mark.parametrize(
    ("current", "reported", "meant"),
    [
        (S.PREPARING, S.TERMINATED, S.CANCELLED),  # ended before it ran: the start failed
        (S.SCHEDULED, S.TERMINATED, S.CANCELLED),
        (S.RUNNING, S.TERMINATED, S.TERMINATED),
        (S.PREPARING, S.RUNNING, S.RUNNING),
    ],
)
def test_what_an_agent_report_means(current: Status, reported: Status, meant: Status) -> None:
    assert reported_kernel_status(current, reported) is meant


@pytest.mark.parametrize(
    ("current", "ends_as"),
    [
        (S.RUNNING, S.TERMINATED),
        (S.TERMINATING, S.TERMINATED),
        (S.PREPARING, S.ERROR),
        (S.SCHEDULED, S.ERROR),
    ],
)
def test_where_a_kernel_of_a_lost_agent_ends(current: Status, ends_as: Status) -> None:
    assert lost_kernel_status(current) is ends_as
