"""One scheduling cycle: decide on every pending session, assume, bind the batch, apply results."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.limits import (
    CONCURRENCY_LIMIT,
    NO_LIMITS,
    Limits,
    Usage,
    check_limits,
)
from services.scheduler.domain.model import (
    SESSION_NOT_PENDING,
    ActiveSession,
    BindResult,
    PendingSession,
    Placement,
    Unschedulable,
)
from services.scheduler.domain.placement import place_session
from services.scheduler.domain.policy import SchedulingPolicy
from services.scheduler.domain.policy.context import queue_context
from services.scheduler.domain.predicates import (
    DEFAULT_AGENT_PREDICATES,
    DEFAULT_SESSION_PREDICATES,
    AgentPredicate,
    SessionPredicate,
)
from services.scheduler.domain.selectors import AgentSelector
from services.scheduler.service.cycle_parts import CycleQueue, CycleTotals, InflightBind, by_group
from services.scheduler.service.decision_stats import DecisionStats
from services.scheduler.service.pending_cleanup import PendingCleanup
from services.scheduler.service.ports import Clock, LimitsSource, SessionBinder
from services.scheduler.service.preempt import Preemption
from services.scheduler.service.reservations import Reservations

log = logging.getLogger(__name__)

MISSING_BIND_RESULT = "missing-bind-result"
# Sessions decided between two yields to the event loop (a few milliseconds of work).
_YIELD_EVERY = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleReport:
    bound: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    unschedulable: tuple[str, ...] = ()
    notes_sent: int = 0
    # The batch filled up before every pending session was decided: run again at once.
    more: bool = False


class ScheduleCycle:
    def __init__(
        self,
        *,
        cache: ClusterCache,
        binder: SessionBinder,
        policy_for: Callable[[str], SchedulingPolicy],
        selector: AgentSelector,
        clock: Clock,
        agent_predicates: Sequence[AgentPredicate] = DEFAULT_AGENT_PREDICATES,
        session_predicates: Sequence[SessionPredicate] = DEFAULT_SESSION_PREDICATES,
        note_interval: float = 60.0,
        message_interval: float = 10.0,
        max_batch: int = 500,
        max_batches: int = 1,
        bound_ttl: float = 30.0,
        limits: LimitsSource | None = None,
        selector_for: Callable[[str], AgentSelector] | None = None,
        cleanup: PendingCleanup | None = None,
        preemption: Preemption | None = None,
        reservations: Reservations | None = None,
        stats: DecisionStats | None = None,
    ) -> None:
        self.stats = stats or DecisionStats()
        self._cache = cache
        self._binder = binder
        self._policy_for = policy_for
        self._selector = selector
        self._clock = clock
        self._agent_predicates = agent_predicates
        self._session_predicates = session_predicates
        self._note_interval = note_interval
        self._message_interval = message_interval
        self._max_batch = max_batch
        self._max_batches = max_batches
        self._bound_ttl = bound_ttl
        self._limits = limits
        self._cleanup = cleanup
        self._preemption = preemption
        self._reservations = reservations
        if reservations is not None:
            self._agent_predicates = (*agent_predicates, reservations)
        # A resource group's own selector, when groups choose theirs (default: `selector`).
        self._selector_for = selector_for or (lambda _group: selector)

    async def run_once(self) -> CycleReport:
        """Decide and bind up to `max_batches` batches of `max_batch` placements. The next
        batch is decided while the previous one's bind is in flight (at most one bind at a
        time): its placements are assumed already, so the two never share capacity."""
        now = self._clock()
        self._cache.expire_bound(now=now, ttl=self._bound_ttl)
        if self._cleanup is not None:
            await self._cleanup.run(self._cache)
        if self._reservations is not None:
            self._reservations.refresh(self._cache)
        pending = self._cache.pending()
        limits = await self._fetch_limits(pending)
        queue = CycleQueue(self._ordered(pending), Usage(self._cache.active(), limits), limits)
        report = CycleTotals()
        inflight: InflightBind | None = None
        placements: list[Placement] = []  # the batch being decided, until it is sent
        more, batches = True, 0
        try:
            while more and batches < self._max_batches:
                batches += 1
                placements = []
                failures, more = await self._decide(queue, placements)
                if self._preemption is not None:
                    await self._preemption.run(self._cache, failures)
                notes = [u for u in failures if self._needs_note(u, now)]
                report.unschedulable.extend(u.session_id for u in failures)
                if inflight is not None:
                    await self._finish(inflight, report, now)
                    inflight = None
                if placements or notes:
                    task = asyncio.ensure_future(self._binder.bind(placements, notes))
                    inflight = InflightBind(placements, notes, task)
                placements = []
            if inflight is not None:
                await self._finish(inflight, report, now)
                inflight = None
        except BaseException:
            # Unknown outcome: undo our assumptions; the watch reports whatever was committed.
            for placement in placements + (inflight.placements if inflight else []):
                self._cache.forget(placement.session_id)
            if inflight is not None:
                inflight.task.cancel()
            raise
        return CycleReport(
            bound=tuple(report.bound),
            conflicts=tuple(report.conflicts),
            unschedulable=tuple(report.unschedulable),
            notes_sent=report.notes_sent,
            more=more,
        )

    async def _finish(self, bind: InflightBind, report: CycleTotals, now: float) -> None:
        try:
            results = await bind.task
        except BaseException:
            for placement in bind.placements:
                self._cache.forget(placement.session_id)
            bind.placements.clear()
            raise
        for note in bind.notes:
            if (attempt := self._cache.find_attempt(note.session_id)) is not None:
                attempt.noted(note.reason, note.message, now=now)
        bound, conflicts = self._apply(bind.placements, results, now)
        report.bound.extend(bound)
        report.conflicts.extend(conflicts)
        report.notes_sent += len(bind.notes)

    async def _fetch_limits(self, pending: Sequence[PendingSession]) -> Limits:
        if self._limits is None or not pending:
            return NO_LIMITS
        found = await self._limits.limits(
            access_keys=sorted({s.access_key for s in pending if s.access_key}),
            project_ids=sorted({s.project_id for s in pending if s.project_id}),
            domain_names=sorted({s.domain_name for s in pending if s.domain_name}),
        )
        return found.effective()

    def _ordered(self, pending: Sequence[PendingSession]) -> list[tuple[str, PendingSession]]:
        """Every pending session in policy order, group by group: sorted once per cycle."""
        ordered: list[tuple[str, PendingSession]] = []
        for group, sessions in sorted(by_group(pending).items()):
            context = queue_context(self._cache, group, sessions)
            in_order = self._policy_for(group).order(sessions, context)
            if self._reservations is not None:
                in_order = self._reservations.holders_first(in_order)
            if self._preemption is not None:
                in_order = self._preemption.first(in_order)
            ordered.extend((group, s) for s in in_order)
        return ordered

    async def _decide(
        self, queue: CycleQueue, placements: list[Placement]
    ) -> tuple[list[Unschedulable], bool]:
        """Place the queue's next sessions into `placements`, up to one bind batch (assumed at
        once, so a cancelled cycle's caller can forget them); a failure never stops the
        others. Yields to the event loop every few sessions: the watch, the lease and the
        server keep running while a long queue is decided (rule R-YIELDING-CYCLE)."""
        failures: list[Unschedulable] = []
        limits, usage = queue.limits, queue.usage
        pinned = self._reservations.reserved_agents() if self._reservations else set()
        while queue.cursor < len(queue.sessions):
            if len(placements) >= self._max_batch:
                return failures, True
            group, session = queue.sessions[queue.cursor]
            queue.cursor += 1
            if queue.cursor % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if not self._cache.is_pending(session.session_id):
                continue  # the watch removed it while we yielded
            over = check_limits(session, usage, limits)
            if over is not None:
                reason, message = over
                self._cache.attempt(session.session_id).record(reason, message)
                failures.append(
                    Unschedulable(session_id=session.session_id, reason=reason, message=message)
                )
                continue
            started = time.perf_counter()
            outcome = place_session(
                session,
                self._cache.index,
                agent_predicates=self._agent_predicates,
                session_predicates=self._session_predicates,
                selector=self._selector_for(group),
                misfits=queue.misfits,
                pinned=pinned,
            )
            if isinstance(outcome, Placement):
                self.stats.add(time.perf_counter() - started)
                keypair = limits.keypairs.get(session.access_key)
                if keypair is not None:
                    outcome = dataclasses.replace(
                        outcome, max_concurrent_sessions=keypair.max_concurrent_sessions
                    )
                self._cache.assume(outcome)
                if limits.applies_to(session):
                    usage.add(ActiveSession.of(session))
                placements.append(outcome)
            else:
                self._cache.attempt(session.session_id).record(outcome.reason, outcome.message)
                failures.append(outcome)
        return failures, False

    def _needs_note(self, note: Unschedulable, now: float) -> bool:
        attempt = self._cache.attempt(note.session_id)
        return attempt.needs_note(
            note.reason,
            note.message,
            now=now,
            interval=self._note_interval,
            message_interval=self._message_interval,
        )

    def _apply(
        self, placements: Sequence[Placement], results: Sequence[BindResult], now: float
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        by_session = {r.session_id: r for r in results}
        bound: list[str] = []
        conflicts: list[str] = []
        for placement in placements:
            sid = placement.session_id
            result = by_session.get(sid)
            if result is not None and result.bound:
                self._cache.confirm_bound(sid, now=now)
                bound.append(sid)
                continue
            # A conflict: the registry's state differs from our cache; retry next cycle.
            self._cache.forget(sid)
            conflicts.append(sid)
            reason = result.conflict_reason if result is not None else MISSING_BIND_RESULT
            log.info("bind conflict for session %s: %s", sid, reason)
            if reason == SESSION_NOT_PENDING:
                self._cache.remove_pending(sid)
            elif self._cache.is_pending(sid):
                message = f"the registry rejected the placement: {reason}"
                if reason == CONCURRENCY_LIMIT:
                    message = (
                        "the keypair already runs max_concurrent_sessions="
                        f"{placement.max_concurrent_sessions} sessions"
                    )
                self._cache.attempt(sid).record(reason, message)
        return tuple(bound), tuple(conflicts)
