"""What the user event watches need: the retained history of user events and its tail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

# Names of the events after which a session changes no more.
FINAL_SESSION_EVENTS = frozenset({"session_terminated", "session_cancelled", "session_failure"})


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredUserEvent:
    """One user event: what the access and filter checks read, and the encoded event itself."""

    event_id: str
    name: str
    session_id: str
    owner_user_id: str
    domain_name: str
    project_id: str
    payload: bytes  # the serialized shipyard.registry.v1.WatchEventsResponse, event_id set

    @property
    def kind(self) -> str:
        """ "session" or "kernel"."""
        return self.name.partition("_")[0]


class UserEventLog(Protocol):
    async def position(self) -> str:
        """The id of the newest retained event ("0-0" when there is none)."""
        ...

    def history(self, after: str, session_id: str = "") -> AsyncIterator[StoredUserEvent]:
        """The retained events after `after` (of `session_id` only, when given), oldest first,
        up to the newest one now."""
        ...

    def follow(self, after: str, session_id: str = "") -> AsyncIterator[StoredUserEvent]:
        """Every event after `after` (of `session_id` only, when given), waiting for new ones
        forever."""
        ...
