"""Kernel events are bound to their source and applied once (rules R-EVENT-SOURCE,
R-IDEMPOTENT-CONSUMER), and the transition table allows only real moves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.core.ids import new_id
from services.registry.domain.model import Status
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


async def _placed(stores: Stores, *, claim: bool) -> tuple[str, str, str]:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id), datetime.now(UTC))
    session, _ = await stores.sessions.add(new_session())
    kernel_id = session.kernels[0].kernel_id
    assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
    if claim:
        await stores.lifecycle.claim_scheduled(100)
    return agent_id, session.session_id, kernel_id


async def test_an_event_from_another_agent_is_refused(stores: Stores) -> None:
    agent_id, session_id, kernel_id = await _placed(stores, claim=True)
    stranger = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(stranger), datetime.now(UTC))

    for claimed in (stranger, ""):
        refused = await stores.lifecycle.apply_kernel_status(
            kernel_id, Status.TERMINATED, agent_id=claimed, reason="self-terminated"
        )
        assert refused is None
    assert (await stores.sessions.get(session_id)).status is Status.PREPARING

    accepted = await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    assert accepted is not None and accepted.status is Status.RUNNING


async def test_a_scheduled_kernel_cannot_jump_to_running(stores: Stores) -> None:
    agent_id, session_id, kernel_id = await _placed(stores, claim=False)
    jumped = await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    assert jumped is None
    session = await stores.sessions.get(session_id)
    assert session.status is Status.SCHEDULED
    assert session.kernels[0].status is Status.SCHEDULED


async def test_a_redelivered_event_changes_nothing(stores: Stores) -> None:
    agent_id, session_id, kernel_id = await _placed(stores, claim=True)
    pulling, creating = new_id(), new_id()
    await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.PULLING, agent_id=agent_id, reason="pulling", event_id=pulling
    )
    await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.PREPARING, agent_id=agent_id, reason="creating", event_id=creating
    )
    # The "pulling" event again (its ack was lost, or Redis forgot it was processed): the move
    # back to PULLING is allowed by the table, but this event was applied already.
    again = await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.PULLING, agent_id=agent_id, reason="pulling", event_id=pulling
    )
    assert again is None
    session = await stores.sessions.get(session_id)
    assert session.kernels[0].status is Status.PREPARING
    assert session.status is Status.PREPARING
