"""How long single placement decisions take: a log-bucket histogram over the process's life.

The cycle times each session's decision (predicates, selection, assume); the loop logs the
running figures after every cycle that decided something, which bench/scheduler.py reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Buckets grow by 10 % from 1 µs: a percentile is exact to within 10 %.
_BASE = 1e-6
_GROWTH = 1.1
_LOG_GROWTH = math.log(_GROWTH)


@dataclass(slots=True)
class DecisionStats:
    count: int = 0
    total: float = 0.0
    _buckets: dict[int, int] = field(default_factory=dict)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        index = 0 if seconds <= _BASE else math.ceil(math.log(seconds / _BASE) / _LOG_GROWTH)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def percentile(self, q: float) -> float:
        """Seconds (the bucket's upper bound) that a share `q` of decisions took at most."""
        if not self.count:
            return 0.0
        wanted = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= wanted:
                return _BASE * _GROWTH**index
        return _BASE * _GROWTH ** max(self._buckets)

    def summary(self) -> str:
        """One log line's worth, in milliseconds."""
        mean = self.total / self.count if self.count else 0.0
        return (
            f"decisions: {self.count}, mean {mean * 1e3:.4f} ms, "
            f"p50 {self.percentile(0.5) * 1e3:.4f} ms, p99 {self.percentile(0.99) * 1e3:.4f} ms"
        )
