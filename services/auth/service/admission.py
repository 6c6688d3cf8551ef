"""Admit a keypair-signed request at the edge: signature, replay and rate limit in one Check.

The signature is checked first (local, cached keypair), so neither a guesser nor a replayer can
spend a victim's quota; then one gate call refuses a replayed signature and counts the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from libs.core.identity import Caller
from services.auth.domain.errors import RateLimitExceeded, ReplayedSignature
from services.auth.service.ports import Clock, RequestGate
from services.auth.service.verify import RequestFacts, RequestVerifier

# Backend.AI counts requests per access key over a rolling 15 minutes (docs/edge-auth.md).
DEFAULT_RATE_WINDOW = timedelta(minutes=15)
# A replay-cache entry outlives the signature's window by this much (clock skew between replicas).
_REPLAY_MARGIN = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    """The caller's rate limit as the X-RateLimit-* response headers report it."""

    limit: int
    remaining: int
    window_seconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Admitted:
    caller: Caller
    quota: Quota


class RateLimited(RateLimitExceeded):
    def __init__(self, quota: Quota) -> None:
        super().__init__(
            f"rate limit exceeded: at most {quota.limit} requests per {quota.window_seconds} s"
        )
        self.quota = quota


class SignedRequestAdmission:
    def __init__(
        self,
        *,
        verifier: RequestVerifier,
        gate: RequestGate,
        clock: Clock,
        window: timedelta = DEFAULT_RATE_WINDOW,
    ) -> None:
        self._verifier = verifier
        self._gate = gate
        self._clock = clock
        self._window = window

    async def admit(self, facts: RequestFacts) -> Admitted:
        """The caller and its quota; Unauthenticated (bad or replayed) or RateLimited."""
        verified = await self._verifier.verify_request(facts)
        now = self._clock()
        limit = verified.rate_limit
        replay_ttl = (verified.valid_until - now).total_seconds() + _REPLAY_MARGIN
        outcome = await self._gate.admit(
            access_key=verified.caller.access_key,
            signature=verified.signature,
            replay_ttl=replay_ttl,
            limit=limit,
            window=self._window.total_seconds(),
            now=now,
        )
        if outcome.replayed:
            raise ReplayedSignature("this signed request was already used; sign each request")
        quota = Quota(
            limit=limit,
            remaining=max(outcome.remaining, 0),
            window_seconds=int(self._window.total_seconds()),
        )
        if not outcome.allowed:
            raise RateLimited(quota)
        return Admitted(caller=verified.caller, quota=quota)
