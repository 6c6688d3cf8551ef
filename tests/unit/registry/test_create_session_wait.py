"""A waiting CreateSession sees every change after its enqueue, its own session's or, for a
retried request, the first request's."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict

from typing_extensions import override

from libs.core.ids import new_id
from services.registry.domain.model import Session, SessionPolicy, Status
from services.registry.service.create_session import CreateSession
from services.registry.service.image_resolution import ImageResolver
from services.registry.service.ports import NewSession
from services.registry.service.resource_groups import ResourceGroups
from tests.unit.registry.test_create_session_checks import (
    ALICE,
    ActiveGroups,
    AgentImages,
    CapturingStore,
    FakePolicies,
    NoMounts,
    _cmd,
)


class Flags:
    """The waiter's contract: `wake` sets the flags subscribed to that session."""

    def __init__(self) -> None:
        self.flags: dict[str, list[asyncio.Event]] = defaultdict(list)

    def subscribe(self, session_id: str) -> asyncio.Event:
        self.flags[session_id].append(flag := asyncio.Event())
        return flag

    def unsubscribe(self, session_id: str, flag: asyncio.Event) -> None:
        self.flags[session_id].remove(flag)

    def wake(self, session_id: str, status: Status) -> None:
        for flag in self.flags[session_id]:
            flag.set()


class StartsAtOnce(CapturingStore):
    """The session starts right after the enqueue read it, before `add` returns; with
    `first`, the request is a retry and `add` answers with the first request's session."""

    def __init__(self, waiter: Flags, first: str = "") -> None:
        super().__init__()
        self.waiter, self.first = waiter, first
        self.stored: dict[str, Session] = {}

    @override
    async def add(self, new: NewSession) -> tuple[Session, bool]:
        session, created = await super().add(new)
        if self.first:
            session = dataclasses.replace(session, session_id=self.first)
        self.stored[session.session_id] = dataclasses.replace(session, status=Status.RUNNING)
        self.waiter.wake(session.session_id, Status.RUNNING)
        return session, created and not self.first

    async def get(self, session_id: str) -> Session:
        return self.stored[session_id]


def _create(store: StartsAtOnce, waiter: Flags) -> CreateSession:
    groups, images = ResourceGroups(ActiveGroups()), ImageResolver(AgentImages())  # type: ignore[arg-type]
    policies = FakePolicies(SessionPolicy())
    return CreateSession(store, NoMounts(), waiter, policies, groups, images)


async def test_a_start_during_the_enqueue_ends_the_wait() -> None:
    waiter = Flags()
    store = StartsAtOnce(waiter)
    session = await _create(store, waiter)(ALICE, _cmd(wait=True, wait_timeout=30))
    assert session.status is Status.RUNNING
    assert not any(waiter.flags.values())  # nothing left subscribed


async def test_a_retry_waits_for_the_first_requests_session() -> None:
    waiter = Flags()
    first = new_id()
    store = StartsAtOnce(waiter, first=first)
    session = await _create(store, waiter)(ALICE, _cmd(wait=True, wait_timeout=30))
    assert (session.session_id, session.status) == (first, Status.RUNNING)
    assert not any(waiter.flags.values())
