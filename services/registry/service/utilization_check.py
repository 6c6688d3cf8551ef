"""The utilization idle checker: ends sessions whose kernels stay under their resource group's
utilization thresholds over its window (docs/idle-and-usage.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from libs.core.errors import NotFound
from services.registry.domain.idle import IdleGrace, Judged, running_since
from services.registry.domain.model import Session, Status
from services.registry.domain.utilization import (
    UTILIZATION,
    UtilizationPolicy,
    averages,
    under_used,
)
from services.registry.service.idle_ports import KernelStatsStore
from services.registry.service.image_ports import ResourceGroupStore


@dataclass(frozen=True, slots=True)
class UtilizationChecker:
    stats: KernelStatsStore
    groups: ResourceGroupStore
    grace: IdleGrace
    name: str = "utilization"
    reason: str = UTILIZATION

    async def judged(self) -> Judged:
        """Every session of a resource group with a utilization policy (groups are few)."""
        names: set[str] = set()
        after = ""
        while page := await self.groups.list_groups(after=after, limit=500, active_only=False):
            names.update(g.name for g in page if g.scheduling.idle_utilization is not None)
            after = page[-1].name
        return Judged(groups=frozenset(names))

    async def due(self, sessions: Sequence[Session], now: datetime) -> set[str]:
        policies = await self._policies({s.resource_group for s in sessions})
        judged: list[tuple[Session, UtilizationPolicy]] = []
        for session in sessions:
            policy = policies.get(session.resource_group)
            if policy is not None and self._past_grace(session, policy, now):
                judged.append((session, policy))
        kernels = [k for s, _ in judged for k in s.kernels if k.status is Status.RUNNING]
        history = await self.stats.history([k.kernel_id for k in kernels])
        due = set()
        for session, policy in judged:
            live = [k for k in session.kernels if k.status is Status.RUNNING]
            # Only what each kernel's own agent reported counts (rule R-EVENT-SOURCE).
            reports = {
                k.kernel_id: [r for r in history.get(k.kernel_id, ()) if r.agent_id == k.agent_id]
                for k in live
            }
            slots = {k.kernel_id: k.requested_slots for k in live}
            measured = averages(reports, slots, policy.window, now)
            if measured is not None and under_used(policy, measured):
                due.add(session.session_id)
        return due

    def _past_grace(self, session: Session, policy: UtilizationPolicy, now: datetime) -> bool:
        started = running_since(session)
        if started is None:
            return False
        if now < started + policy.initial_grace:
            return False
        owner = session.owner_created_at
        return owner is None or now >= owner + self.grace.new_user

    async def _policies(self, names: set[str]) -> dict[str, UtilizationPolicy | None]:
        found: dict[str, UtilizationPolicy | None] = {}
        for name in sorted(names):
            try:
                found[name] = (await self.groups.get(name)).scheduling.idle_utilization
            except NotFound:
                found[name] = None
        return found
