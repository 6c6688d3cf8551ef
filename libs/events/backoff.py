"""Exponential, capped, jittered delays for retry loops (rule R-OUTAGE-BACKOFF).

"Full jitter": each delay is uniform in [0, min(cap, base * 2**attempt)] so that many consumers
that lost the same dependency do not come back in lockstep; `floor` keeps a minimum pause so a
loop never spins.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        *,
        base: float = 0.1,
        cap: float = 30.0,
        floor: float = 0.05,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < floor <= base <= cap:
            raise ValueError("backoff needs 0 < floor <= base <= cap")
        self._base = base
        self._cap = cap
        self._floor = floor
        self._rand = rand
        self.attempts = 0

    def next_delay(self) -> float:
        """The pause before the next attempt; each call counts one more failed attempt."""
        ceiling: float = min(self._cap, self._base * 2.0 ** min(self.attempts, 32))
        self.attempts += 1
        return max(self._floor, ceiling * float(self._rand()))

    def reset(self) -> None:
        self.attempts = 0
