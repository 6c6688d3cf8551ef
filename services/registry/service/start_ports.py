"""Ports of the start path's reliability: re-queued starts, agent schedulability, lost agents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.registry.domain.model import Agent
from services.registry.domain.schedulability import SchedulabilityPolicy
from services.registry.domain.start_failures import RetryPolicy
from services.registry.service.ports import KernelTarget, SessionChange


class StartRetryStore(Protocol):
    async def requeue(
        self,
        session_id: str,
        *,
        error: str,
        failed_agent_ids: Sequence[str],
        retry: RetryPolicy,
        agents: SchedulabilityPolicy,
        now: datetime,
    ) -> SessionChange | None:
        """Back to PENDING (or CANCELLED once the attempts are used up), slots released, the
        failing agents' counters raised, all in one transaction; None when the session is no
        longer starting (a destroy or a late event got there first)."""
        ...

    async def release_due(self, now: datetime, limit: int) -> list[str]:
        """Re-queued sessions whose backoff has passed, now offered to the scheduler again."""
        ...


class AgentHealthStore(Protocol):
    async def drain(self, agent_id: str, reason: str, now: datetime) -> Agent:
        """Take the agent out of scheduling until it registers again (AgentNotFound if unknown)."""
        ...

    async def report_health(
        self,
        agent_id: str,
        *,
        healthy: bool,
        reason: str,
        now: datetime,
        policy: SchedulabilityPolicy,
    ) -> Agent | None:
        """Apply a heartbeat's health report; the agent when its schedulability changed."""
        ...

    async def starts_succeeded(self, agent_ids: Sequence[str]) -> None:
        """Reset the consecutive-failure counters of agents that just started kernels."""
        ...


class LostAgentSessions(Protocol):
    async def settle(
        self, lost_before: datetime, now: datetime
    ) -> tuple[list[SessionChange], list[KernelTarget]]:
        """End ("agent-lost") or re-queue the live sessions with a kernel on an agent LOST
        before `lost_before`; the changes, and their kernels on other agents to destroy."""
        ...
