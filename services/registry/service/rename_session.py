"""RenameSession: a live session's owner (or an admin over it) gives it a new name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from libs.core.access import Verb
from libs.core.identity import Caller
from services.registry.domain.errors import SessionNotRunning
from services.registry.domain.model import DEAD_STATUSES, Session
from services.registry.service.access import check_access
from services.registry.service.session_ports import SessionReader


class SessionNames(Protocol):
    async def rename(self, session_id: str, name: str) -> bool:
        """Rename a live session; False when it has ended. SessionNameInUse on a clash."""
        ...


@dataclass(frozen=True, slots=True)
class RenameSession:
    store: SessionReader
    names: SessionNames

    async def __call__(self, caller: Caller, session_id: str, name: str) -> Session:
        session = await self.store.get(session_id)
        check_access(caller, session, Verb.UPDATE)
        if session.name == name:
            return session
        if session.status in DEAD_STATUSES or not await self.names.rename(session_id, name):
            raise SessionNotRunning(
                f"session {session_id} has ended and cannot be renamed",
                metadata={"status": session.status.value},
            )
        return await self.store.get(session_id)
