"""RestartSession against the real database: RUNNING -> RESTARTING -> RUNNING, once per restart,
a failed restart ends the session, one left RESTARTING is recovered; only those who may change
the session restart it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from typing_extensions import override

from libs.core.errors import Unavailable
from libs.core.identity import Caller, Role
from libs.core.ids import new_id
from services.registry.adapters.restart_store import SqlRestartStore
from services.registry.domain.errors import SessionNotFound, SessionNotRunning
from services.registry.domain.model import Status
from services.registry.service.restart_session import RestartSession
from tests.integration.registry.agent_doubles import UnusedAgents
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


class RestartingAgent(UnusedAgents):
    """Restarts kernels when `release` is set; fails them when `fail` is."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.release = asyncio.Event()
        self.restarted: list[str] = []
        self.destroyed: list[tuple[str, str]] = []

    @override
    async def restart_kernel(self, address: str, kernel_id: str) -> None:
        self.restarted.append(kernel_id)
        await self.release.wait()
        if self.fail:
            raise Unavailable("the kernel runner did not come back")

    @override
    async def destroy_kernel(
        self, address: str, kernel_id: str, session_id: str, reason: str
    ) -> None:
        self.destroyed.append((kernel_id, reason))


async def _running(stores: Stores) -> tuple[str, str, Caller]:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id), datetime.now(UTC))
    session, _ = await stores.sessions.add(new_session())
    kernel_id = session.kernels[0].kernel_id
    assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
    await stores.lifecycle.claim_scheduled(100)
    started = await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    assert started is not None and started.status is Status.RUNNING
    owner = Caller(user_id=session.owner_user_id, access_key=session.access_key)
    return session.session_id, kernel_id, owner


def _restart(stores: Stores, agent: RestartingAgent) -> RestartSession:
    return RestartSession(stores.sessions, SqlRestartStore(stores.factory), stores.lifecycle, agent)


async def _settled(stores: Stores, session_id: str) -> Status:
    for _ in range(200):
        status = (await stores.sessions.get(session_id)).status
        if status is not Status.RESTARTING:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("still RESTARTING")


async def test_a_restart_goes_through_restarting_once(stores: Stores) -> None:
    session_id, kernel_id, owner = await _running(stores)
    agent = RestartingAgent()
    restart = _restart(stores, agent)
    first = await restart(owner, session_id)
    assert first.status is Status.RESTARTING
    admin = Caller(user_id=new_id(), role=Role.ADMIN, domain_name=first.domain_name)
    again = await restart(admin, session_id)  # a retry: no second restart
    assert again.status is Status.RESTARTING
    await asyncio.sleep(0.2)
    assert agent.restarted == [kernel_id]
    agent.release.set()
    assert await _settled(stores, session_id) is Status.RUNNING
    session = await stores.sessions.get(session_id)
    assert session.status_info == "restarted"
    assert session.status_history["RESTARTING"] <= session.status_history["RUNNING"]
    assert session.kernels[0].status is Status.RUNNING
    assert agent.destroyed == []


async def test_a_failed_restart_ends_the_session(stores: Stores) -> None:
    session_id, kernel_id, owner = await _running(stores)
    agent = RestartingAgent(fail=True)
    agent.release.set()
    await _restart(stores, agent)(owner, session_id)
    assert await _settled(stores, session_id) is Status.TERMINATING
    session = await stores.sessions.get(session_id)
    assert session.status_info == "restart-failed"
    assert agent.destroyed == [(kernel_id, "restart-failed")]


async def test_only_a_running_session_restarts_and_strangers_see_nothing(stores: Stores) -> None:
    pending, _ = await stores.sessions.add(new_session())
    owner = Caller(user_id=pending.owner_user_id, access_key=pending.access_key)
    agent = RestartingAgent()
    with pytest.raises(SessionNotRunning, match="PENDING"):
        await _restart(stores, agent)(owner, pending.session_id)
    session_id, _, _ = await _running(stores)
    stranger = Caller(user_id=new_id(), access_key="AKSTRANGER")
    with pytest.raises(SessionNotFound):
        await _restart(stores, agent)(stranger, session_id)
    other_admin = Caller(user_id=new_id(), role=Role.ADMIN, domain_name="elsewhere")
    with pytest.raises(SessionNotFound):
        await _restart(stores, agent)(other_admin, session_id)
    assert agent.restarted == []
    assert (await stores.sessions.get(session_id)).status is Status.RUNNING


async def test_a_restart_whose_registry_died_is_recovered(stores: Stores) -> None:
    session_id, _, _ = await _running(stores)
    restarts = SqlRestartStore(stores.factory)
    await restarts.begin(session_id)  # ... and the replica that began it is gone
    restart = _restart(stores, RestartingAgent())
    await restart.recover(datetime.now(UTC) - timedelta(minutes=5))  # not stale yet
    assert (await stores.sessions.get(session_id)).status is Status.RESTARTING
    await restart.recover(datetime.now(UTC) + timedelta(seconds=1))
    session = await stores.sessions.get(session_id)
    assert (session.status, session.status_info) == (Status.RUNNING, "restart-interrupted")
