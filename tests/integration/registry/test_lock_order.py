"""Paths that lock sessions and agents run concurrently without deadlocks (rule R-LOCK-ORDER).

A deadlock shows as a retried transaction (`libs.db.retry` logs each one): the paths must get
through without any.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from libs.core.ids import new_id
from services.registry.domain.model import DEAD_STATUSES, Status
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration

SESSIONS = 12


async def _running_on(stores: Stores, agent_id: str) -> list[tuple[str, str]]:
    placed = []
    for _ in range(SESSIONS):
        session, _ = await stores.sessions.add(new_session(cpu="0.1", mem="10"))
        kernel_id = session.kernels[0].kernel_id
        assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
        placed.append((session.session_id, kernel_id))
    await stores.lifecycle.claim_scheduled(1000)
    for _, kernel_id in placed:
        await stores.lifecycle.apply_kernel_status(
            kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
        )
    return placed


async def test_losing_an_agent_while_its_kernels_end_takes_no_deadlock_retry(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="8", mem="8000"), datetime.now(UTC))
    placed = await _running_on(stores, agent_id)
    caplog.set_level(logging.INFO, logger="libs.db.retry")

    ends = [
        stores.lifecycle.apply_kernel_status(
            kernel_id, Status.TERMINATED, agent_id=agent_id, reason="self-terminated"
        )
        for _, kernel_id in reversed(placed)
    ]
    destroys = [
        stores.lifecycle.begin_destroy(session_id, forced=True, reason="user-requested")
        for session_id, _ in placed[::2]
    ]
    await asyncio.gather(stores.agents.mark_lost([agent_id]), *ends, *destroys)

    conflicts = [r for r in caplog.records if "transaction conflict" in r.getMessage()]
    assert conflicts == []
    for session_id, _ in placed:
        assert (await stores.sessions.get(session_id)).status in DEAD_STATUSES
    agent = await stores.agents.get(agent_id)
    assert agent.status.value == "LOST" and agent.occupied_slots == {}


async def test_re_registering_while_kernels_end_takes_no_deadlock_retry(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="8", mem="8000"), datetime.now(UTC))
    placed = await _running_on(stores, agent_id)
    caplog.set_level(logging.INFO, logger="libs.db.retry")

    # The agent restarted with none of its kernels, while their "terminated" events arrive.
    ends = [
        stores.lifecycle.apply_kernel_status(
            kernel_id, Status.TERMINATED, agent_id=agent_id, reason="self-terminated"
        )
        for _, kernel_id in reversed(placed)
    ]
    again = registration(agent_id, cpu="8", mem="8000")
    await asyncio.gather(stores.agents.register(again, datetime.now(UTC)), *ends)

    conflicts = [r for r in caplog.records if "transaction conflict" in r.getMessage()]
    assert conflicts == []
    for session_id, _ in placed:
        assert (await stores.sessions.get(session_id)).status is Status.TERMINATED
    assert (await stores.agents.get(agent_id)).occupied_slots == {}
