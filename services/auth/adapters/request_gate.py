"""The request gate in Redis: replay cache + sliding-window rate limit in one Lua script.

Atomic and shared by every auth replica. The window is approximated with two fixed windows
(the previous one weighted by how much of it still overlaps the sliding window), which costs
two small counters per key instead of a sorted set of every request.

Concurrent Checks share round trips. A request that finds the gate idle is sent at once, from
its own task (no extra task, no extra turn of the event loop: alone, it costs what one script
call costs). Requests arriving while a round trip is in flight queue up, and the next round
trip carries all of them (up to MAX_BATCH) in one run of the script, which handles them in
arrival order, so two uses of one signature in a batch still see each other. Under load one
`send` and one reply serve many Checks.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from services.auth.domain.model import GateOutcome

# KEYS: per request, its replay key, this window's counter, the previous window's counter.
# ARGV: per request, replay TTL (ms), limit, window (ms), time into this window (ms).
# Returns per request {1 allowed / 0 over the limit / -1 replayed, remaining}, flattened.
_SCRIPT = """
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local k, a = i * 3, i * 4
  if not redis.call('SET', KEYS[k + 1], '1', 'NX', 'PX', ARGV[a + 1]) then
    out[#out + 1] = -1
    out[#out + 1] = 0
  else
    local limit = tonumber(ARGV[a + 2])
    local window = tonumber(ARGV[a + 3])
    local elapsed = tonumber(ARGV[a + 4])
    local current = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
    local previous = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
    local used = math.floor(previous * (window - elapsed) / window) + current
    if used >= limit then
      out[#out + 1] = 0
      out[#out + 1] = 0
    else
      redis.call('INCR', KEYS[k + 2])
      redis.call('PEXPIRE', KEYS[k + 2], 2 * window)
      out[#out + 1] = 1
      out[#out + 1] = limit - used - 1
    end
  end
end
return out
"""

# Bounds one script run (Redis runs nothing else meanwhile): ~10 commands per request.
MAX_BATCH = 256


@dataclass(slots=True)
class _Queued:
    keys: tuple[str, str, str]
    args: tuple[int, int, int, int]
    outcome: asyncio.Future[GateOutcome]


class RedisRequestGate:
    def __init__(self, redis: Redis, *, prefix: str, max_batch: int = MAX_BATCH) -> None:
        self._redis = redis
        self._prefix = prefix
        self._max_batch = max(1, max_batch)
        self._script = redis.register_script(_SCRIPT)
        self._queue: list[_Queued] = []
        self._busy = False  # a round trip is in flight (a lone request's or the flusher's)
        self._flusher: asyncio.Task[None] | None = None

    async def admit(
        self,
        *,
        access_key: str,
        signature: str,
        replay_ttl: float,
        limit: int,
        window: float,
        now: datetime,
    ) -> GateOutcome:
        window_ms = max(int(window * 1000), 1)
        index, elapsed = divmod(int(now.timestamp() * 1000), window_ms)
        rate = f"{self._prefix}auth:rate:{access_key}:"
        queued = _Queued(
            keys=(
                f"{self._prefix}auth:replay:{access_key}:{signature}",
                f"{rate}{index}",
                f"{rate}{index - 1}",
            ),
            args=(max(math.ceil(replay_ttl * 1000), 1), limit, window_ms, elapsed),
            outcome=asyncio.get_running_loop().create_future(),
        )
        if self._busy:
            self._queue.append(queued)
            # A Check cancelled while queued is left out of its batch (never counted); one
            # cancelled after its batch was sent is counted, as a lone one would be.
            return await queued.outcome
        self._busy = True
        try:
            await self._run([queued])
        finally:
            self._hand_over()
        return queued.outcome.result()

    def _hand_over(self) -> None:
        """After a round trip: send what queued meanwhile, or become idle."""
        if not self._queue:
            self._busy = False
        elif self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="auth-request-gate")

    async def _flush(self) -> None:
        """Send queued requests, a batch at a time, until the queue is empty."""
        try:
            while self._queue:
                batch = [q for q in self._queue[: self._max_batch] if not q.outcome.done()]
                del self._queue[: self._max_batch]
                if batch:
                    await self._run(batch)
        finally:
            self._flusher = None
            self._busy = False
            if self._queue:  # only when cancelled (shutdown): end the rest rather than hang
                self._fail(self._queue, asyncio.CancelledError())
                self._queue = []

    async def _run(self, batch: list[_Queued]) -> None:
        keys = [key for queued in batch for key in queued.keys]
        args = [arg for queued in batch for arg in queued.args]
        try:
            flat = await self._evaluate(keys, args)
        except BaseException as exc:
            # Every Check of the batch answers the error (503), as each did on its own before.
            self._fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for i, queued in enumerate(batch):
            if queued.outcome.done():  # its Check was cancelled meanwhile
                continue
            verdict, remaining = int(flat[2 * i]), int(flat[2 * i + 1])
            queued.outcome.set_result(
                GateOutcome(replayed=True, allowed=False, remaining=0)
                if verdict < 0
                else GateOutcome(replayed=False, allowed=verdict == 1, remaining=remaining)
            )

    async def _evaluate(self, keys: list[str], args: list[int]) -> list[int]:
        # EVALSHA straight away; a Redis that lost its scripts (restart, SCRIPT FLUSH) gets the
        # whole script once, which EVAL also caches for the next batch.
        sha = self._script.sha
        try:
            reply = await self._redis.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            reply = await self._redis.eval(_SCRIPT, len(keys), *keys, *args)
        return list(reply)

    @staticmethod
    def _fail(batch: list[_Queued], exc: BaseException) -> None:
        for queued in batch:
            if queued.outcome.done():
                continue
            if isinstance(exc, asyncio.CancelledError):
                queued.outcome.cancel()
            else:
                queued.outcome.set_exception(exc)
