"""End every live session of some owners (auth deactivated them), recording why."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from libs.core.errors import InvalidArgument
from services.registry.service.destroy_session import tell_agents
from services.registry.service.ports import AgentClient, ClusterEvents, SessionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TerminateSessionsOfOwners:
    store: SessionStore
    events: ClusterEvents
    agents: AgentClient

    async def __call__(
        self,
        *,
        user_ids: Sequence[str] = (),
        access_keys: Sequence[str] = (),
        project_ids: Sequence[str] = (),
        domain_names: Sequence[str] = (),
        reason: str,
    ) -> list[str]:
        if not (user_ids or access_keys or project_ids or domain_names):
            raise InvalidArgument("name at least one owner (user, keypair, project or domain)")
        session_ids = await self.store.live_sessions_of(
            user_ids=user_ids,
            access_keys=access_keys,
            project_ids=project_ids,
            domain_names=domain_names,
        )
        # Shielded: once TERMINATING is committed the agents must be told (lesson 36).
        await asyncio.shield(asyncio.gather(*(self._end(sid, reason) for sid in session_ids)))
        log.info("ended %d sessions (%s)", len(session_ids), reason)
        return session_ids

    async def _end(self, session_id: str, reason: str) -> None:
        # Forced: a deactivated owner's SCHEDULED or PREPARING sessions end too.
        targets, change = await self.store.begin_destroy(session_id, forced=True, reason=reason)
        if change is not None:
            await self.events.session_changed(change)
        await tell_agents(self.agents, targets, reason)
