"""GetSessionLogs against the real database: only the owner (or an admin of the session's
domain) reads them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typing_extensions import override

from libs.core.identity import Caller, Role
from libs.core.ids import new_id
from services.registry.domain.errors import SessionNotFound, SessionNotRunning
from services.registry.service.session_logs import GetSessionLogs
from tests.integration.registry.agent_doubles import UnusedAgents
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


class LoggingAgent(UnusedAgents):
    """The agent side of the call: answers with what a kernel printed, recording who asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, int]] = []

    @override
    async def kernel_logs(self, address: str, kernel_id: str, tail: int) -> str:
        self.asked.append((address, kernel_id, tail))
        return "hello from the kernel\n"


async def test_owner_and_admin_read_logs_strangers_do_not_see_the_session(
    stores: Stores,
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="2"), datetime.now(UTC))
    session, _ = await stores.sessions.add(new_session(cpu="1"))
    kernel_id = session.kernels[0].kernel_id
    assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
    agent = LoggingAgent()
    logs = GetSessionLogs(stores.sessions, stores.agents, agent)
    owner = Caller(user_id=session.owner_user_id, access_key=session.access_key)

    assert await logs(owner, session.session_id, 5) == "hello from the kernel\n"
    assert agent.asked == [("127.0.0.1:1", kernel_id, 5)]
    admin = Caller(user_id=new_id(), role=Role.ADMIN, domain_name=session.domain_name)
    assert await logs(admin, session.session_id, 0) == "hello from the kernel\n"
    # Admins see their own domain's sessions only.
    other_admin = Caller(user_id=new_id(), role=Role.ADMIN, domain_name="elsewhere")
    with pytest.raises(SessionNotFound):
        await logs(other_admin, session.session_id, 0)

    stranger = Caller(user_id=new_id(), access_key="AKSTRANGER")
    with pytest.raises(SessionNotFound):
        await logs(stranger, session.session_id, 0)
    assert len(agent.asked) == 2  # the stranger's call never reached the agent


async def test_a_session_without_a_kernel_on_an_agent_has_no_logs(stores: Stores) -> None:
    session, _ = await stores.sessions.add(new_session(cpu="1"))
    owner = Caller(user_id=session.owner_user_id, access_key=session.access_key)
    with pytest.raises(SessionNotRunning, match="PENDING"):
        await GetSessionLogs(stores.sessions, stores.agents, LoggingAgent())(
            owner, session.session_id, 0
        )
