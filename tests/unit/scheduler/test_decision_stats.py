from __future__ import annotations

from services.scheduler.service.decision_stats import DecisionStats


def test_percentiles_are_within_ten_percent_of_the_exact_ones() -> None:
    stats = DecisionStats()
    for n in range(1, 1001):
        stats.add(n * 1e-5)  # 0.01 ms … 10 ms
    assert 4.9e-3 <= stats.percentile(0.5) <= 5.0e-3 * 1.1
    assert 9.9e-3 <= stats.percentile(0.99) <= 9.9e-3 * 1.1
    assert stats.count == 1000
    assert "p99 " in stats.summary()


def test_no_decisions_means_zero() -> None:
    assert DecisionStats().percentile(0.99) == 0.0
