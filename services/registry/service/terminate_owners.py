"""End every live session of some owners, e.g. because auth deactivated them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from libs.core.errors import FieldViolation, InvalidArgument, ShipyardError
from services.registry.service.destroy_session import tell_agents
from services.registry.service.ports import AgentClient
from services.registry.service.session_ports import SessionEnding

log = logging.getLogger(__name__)


class OwnerSessions(Protocol):
    async def live_of(
        self,
        *,
        user_ids: Sequence[str],
        access_keys: Sequence[str],
        project_ids: Sequence[str],
        domain_names: Sequence[str],
    ) -> list[str]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Owners:
    user_ids: tuple[str, ...] = ()
    access_keys: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    domain_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TerminateSessionsOfOwners:
    owners: OwnerSessions
    store: SessionEnding
    agents: AgentClient

    async def __call__(self, owners: Owners, reason: str) -> list[str]:
        """The ids of the sessions told to end (pending ones are cancelled)."""
        if not (owners.user_ids or owners.access_keys or owners.project_ids or owners.domain_names):
            raise InvalidArgument(
                "name at least one owner",
                violations=[FieldViolation("user_ids", "one of the owner lists must be set")],
            )
        ids = await self.owners.live_of(
            user_ids=owners.user_ids,
            access_keys=owners.access_keys,
            project_ids=owners.project_ids,
            domain_names=owners.domain_names,
        )
        # Shielded: once TERMINATING is committed the agents must be told (rule R-SHIELD).
        return await asyncio.shield(self._end_all(ids, reason))

    async def _end_all(self, ids: list[str], reason: str) -> list[str]:
        ended: list[str] = []
        for session_id in ids:
            try:
                targets, change = await self.store.begin_destroy(
                    session_id, forced=True, reason=reason
                )
            except ShipyardError as exc:  # gone meanwhile, or another failure: skip it
                log.warning("cannot end session %s of a deactivated owner: %s", session_id, exc)
                continue
            if change is None:
                continue
            await tell_agents(self.agents, targets, reason)
            ended.append(session_id)
        return ended
