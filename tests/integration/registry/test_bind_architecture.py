"""BindSessions re-checks the architecture under the agent's row lock (the cache may be stale)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from libs.core.ids import new_id
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


async def test_a_bind_to_an_agent_of_another_architecture_is_a_conflict(stores: Stores) -> None:
    arm, amd = f"agent-{new_id()[:8]}", f"agent-{new_id()[:8]}"
    now = datetime.now(UTC)
    await stores.agents.register(replace(registration(arm), architecture="arm64"), now)
    await stores.agents.register(replace(registration(amd), architecture="amd64"), now)
    session, _ = await stores.sessions.add(replace(new_session(), image_architectures=("amd64",)))
    kernel = session.kernels[0].kernel_id
    refused = await stores.sessions.bind(session.session_id, {kernel: arm})
    assert not refused.bound and refused.conflict == "agent-architecture-mismatch"
    assert (await stores.sessions.bind(session.session_id, {kernel: amd})).bound
