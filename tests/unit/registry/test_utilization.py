"""The utilization verdict from kernels' reports (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.core.slots import ResourceSlots
from services.registry.domain.utilization import (
    KernelStats,
    UtilizationPolicy,
    averages,
    under_used,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SLOTS = {"k": ResourceSlots({"cpu": "2", "mem": "1000"})}


def _reports(cpu_per_second: float, mem: int, seconds: int = 60) -> list[KernelStats]:
    """One report every 5 s for `seconds`, newest first."""
    return [
        KernelStats(
            kernel_id="k",
            agent_id="a",
            received_at=NOW - timedelta(seconds=t),
            cpu_seconds=cpu_per_second * (seconds - t),
            mem_bytes=mem,
        )
        for t in range(0, seconds + 1, 5)
    ]


def test_cpu_is_time_used_over_the_allocated_cores_and_memory_its_share() -> None:
    measured = averages({"k": _reports(0.5, 250)}, SLOTS, timedelta(seconds=30), NOW)
    assert measured is not None
    assert round(measured["cpu"], 6) == 25.0  # half a core of two
    assert measured["mem"] == 25.0
    assert "cuda" not in measured  # no accelerator allocated: not judged


def test_too_short_a_history_is_not_enough_data() -> None:
    assert (
        averages({"k": _reports(0.5, 250, seconds=20)}, SLOTS, timedelta(seconds=30), NOW) is None
    )
    assert averages({"k": []}, SLOTS, timedelta(seconds=30), NOW) is None


def test_and_needs_every_threshold_missed_or_needs_one() -> None:
    measured = {"cpu": 2.0, "mem": 40.0}
    both = {"cpu": 10.0, "mem": 30.0}
    assert not under_used(UtilizationPolicy(window=timedelta(60), thresholds=both), measured)
    assert under_used(
        UtilizationPolicy(window=timedelta(60), thresholds=both, any_under=True), measured
    )
    assert under_used(UtilizationPolicy(window=timedelta(60), thresholds={"cpu": 10}), measured)
    # A threshold on a resource the session does not have judges nothing.
    assert not under_used(
        UtilizationPolicy(window=timedelta(60), thresholds={"cuda": 10}), measured
    )


def test_the_policy_survives_its_stored_form() -> None:
    policy = UtilizationPolicy(
        window=timedelta(minutes=10),
        initial_grace=timedelta(minutes=5),
        thresholds={"cpu": 5.0},
        any_under=True,
    )
    assert UtilizationPolicy.from_dict(policy.as_dict()) == policy
    assert UtilizationPolicy.from_dict(None) is None
