"""What happens after a start: success resets the agents' failure counts; a failure ends the
session (its own fault, rule R-FAILED-START) or sends it back to the queue (rule R-REQUEUE).
The stores stage the events of each change in its transaction (rule R-OUTBOX)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.registry.domain.schedulability import SchedulabilityPolicy
from services.registry.domain.start_failures import (
    FAILED_TO_START,
    Fault,
    RetryPolicy,
    classify,
)
from services.registry.service.destroy_session import tell_agents
from services.registry.service.ports import AgentClient, PreparingSession
from services.registry.service.session_ports import SessionStarts
from services.registry.service.start_ports import AgentHealthStore, StartRetryStore

log = logging.getLogger(__name__)


class SharedResets:
    """Successful starts reset their agents' failure counts in one transaction for all the
    starts that finish in the same turn of the event loop, instead of one each; every caller
    returns once the transaction that covers its agents has committed (or raises its error)."""

    def __init__(self, health: AgentHealthStore) -> None:
        self._health = health
        self._pending: set[str] = set()
        self._flush: asyncio.Future[None] | None = None

    async def add(self, agent_ids: Sequence[str]) -> None:
        if not agent_ids:
            return
        self._pending.update(agent_ids)
        if self._flush is None:
            self._flush = asyncio.ensure_future(self._run())
        await asyncio.shield(self._flush)  # a cancelled caller does not cancel the others'

    async def _run(self) -> None:
        await asyncio.sleep(0)  # let the starts finishing in this turn join
        agent_ids, self._pending, self._flush = sorted(self._pending), set(), None
        await self._health.starts_succeeded(agent_ids)


@dataclass(frozen=True, slots=True)
class StartOutcomes:
    sessions: SessionStarts
    retries: StartRetryStore
    health: AgentHealthStore
    agents: AgentClient
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    schedulability: SchedulabilityPolicy = field(default_factory=SchedulabilityPolicy)

    _resets: SharedResets = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_resets", SharedResets(self.health))

    async def succeeded(self, prep: PreparingSession, agent_ids: Sequence[str]) -> None:
        del prep
        await self._resets.add(agent_ids)

    async def failed(
        self, prep: PreparingSession, error: BaseException, failed_agent_ids: Sequence[str]
    ) -> None:
        session_id = prep.session.session_id
        text = f"{type(error).__name__}: {error}"
        fault = classify(error)
        log.warning("session %s failed to start (%s fault): %s", session_id, fault.value, text)
        if fault is Fault.SESSION:
            change = await self.sessions.cancel(session_id, reason=FAILED_TO_START, error=text)
            reason = FAILED_TO_START
        else:
            change = await self.retries.requeue(
                session_id,
                error=text,
                failed_agent_ids=failed_agent_ids,
                retry=self.retry,
                agents=self.schedulability,
                now=datetime.now(UTC),
            )
            reason = change.status_info if change is not None else FAILED_TO_START
        # Kernels that did start on some agent must not linger (their events are no-ops now).
        await tell_agents(self.agents, list(prep.targets), reason)


@dataclass(slots=True)
class RequeueRelease:
    """Offers re-queued sessions to the scheduler again once their backoff has passed."""

    retries: StartRetryStore
    interval: float = 1.0
    batch: int = 256

    async def release(self) -> int:
        """Sessions whose backoff ended, announced as enqueued (staged with the release)."""
        return len(await self.retries.release_due(datetime.now(UTC), self.batch))

    async def run(self) -> None:
        while True:
            try:
                if await self.release() == self.batch:
                    continue
            except Exception:
                log.exception("releasing re-queued sessions failed")
            await asyncio.sleep(self.interval)
