"""The client side: submit batch sessions through the edge as a careful real client does.

Each creation carries its own client token and is retried with the same token after any answer
that may not be final (a transport error, a timeout, HTTP 429 or 5xx) until the edge answers
with the session. At most `alive` of them are unfinished at once: a submitter waits for its
session to leave the live statuses (seen in the user's session list) before the next one goes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

import httpx

from cli.client import ApiError, ShipyardClient

LIVE = (
    "SESSION_STATUS_PENDING",
    "SESSION_STATUS_SCHEDULED",
    "SESSION_STATUS_PULLING",
    "SESSION_STATUS_PREPARING",
    "SESSION_STATUS_RUNNING",
    "SESSION_STATUS_TERMINATING",
)
RETRY_PAUSE = 0.5


@dataclass
class Submission:
    token: str
    session_id: str = ""
    attempts: int = 0
    first_error: str = ""
    refused: str = ""  # a final 4xx: the request itself was refused (never retried)


def retryable(exc: Exception) -> bool:
    if isinstance(exc, httpx.TransportError):  # refused, reset, timed out
        return True
    return isinstance(exc, ApiError) and (exc.status == 429 or exc.status >= 500)


class LiveSessions:
    """The user's live session ids, refreshed from the edge about once a second."""

    def __init__(self, client: ShipyardClient) -> None:
        self._client = client
        self._live: set[str] = set()
        self._listed_at = 0.0  # when the last complete listing started
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                live = await self._list()
            except (httpx.HTTPError, ApiError):
                await asyncio.sleep(RETRY_PAUSE)
                continue
            async with self._changed:
                self._live, self._listed_at = live, started
                self._changed.notify_all()
            await asyncio.sleep(1.0)

    async def _list(self) -> set[str]:
        live: set[str] = set()
        token = ""
        while True:
            params: dict[str, object] = {"page_size": 500, "statuses": list(LIVE)}
            if token:
                params["page_token"] = token
            page = await self._client.list_sessions(**params)
            live.update(s["session_id"] for s in page.get("sessions", []))
            token = page.get("next_page_token", "")
            if not token:
                return live

    async def ended(self, session_id: str, since: float) -> None:
        """Until a listing that began after `since` no longer shows the session."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._listed_at > since and session_id not in self._live
            )


@dataclass
class Load:
    client: ShipyardClient
    sessions: int
    alive: int = 100
    command: str = "sleep 1; exit 0"
    resources: dict[str, str] = field(default_factory=lambda: {"cpu": "0.1", "mem": "67108864"})
    session_deadline: float = 240.0  # a submitter gives up waiting for its session's end
    create_deadline: float = 300.0  # ... and retrying its creation
    submissions: list[Submission] = field(default_factory=list)
    unfinished_seen: int = 0
    _todo: deque[Submission] = field(default_factory=deque)
    _extra: list[asyncio.Task[None]] = field(default_factory=list)
    _live: LiveSessions | None = None

    async def run(self) -> list[Submission]:
        self._live = LiveSessions(self.client)
        lister = asyncio.create_task(self._live.run())
        self.submissions = [Submission(secrets.token_hex(16)) for _ in range(self.sessions)]
        self._todo = deque(self.submissions)
        try:
            await asyncio.gather(*(self._worker() for _ in range(self.alive)))
            await asyncio.gather(*self._extra)
        finally:
            lister.cancel()
        return self.submissions

    def burst(self, count: int) -> None:
        """Submit `count` more at once, beyond the bound: creations in flight when a fault hits
        (while a dependency is down no session is seen to end, so no worker would submit)."""
        for _ in range(min(count, len(self._todo))):
            self._extra.append(asyncio.create_task(self._one(self._todo.popleft())))

    async def _worker(self) -> None:
        while self._todo:
            await self._one(self._todo.popleft())

    async def _one(self, sub: Submission) -> None:
        assert self._live is not None
        await self._create(sub)
        if not sub.session_id:
            return
        acked = time.monotonic()
        try:
            await asyncio.wait_for(self._live.ended(sub.session_id, acked), self.session_deadline)
        except TimeoutError:
            self.unfinished_seen += 1

    async def _create(self, sub: Submission) -> None:
        give_up = time.monotonic() + self.create_deadline
        while True:
            sub.attempts += 1
            try:
                session = await self.client.create_session(
                    session_type="SESSION_TYPE_BATCH",
                    startup_command=self.command,
                    resources=self.resources,
                    client_token=sub.token,
                )
            except (httpx.HTTPError, ApiError) as exc:
                sub.first_error = sub.first_error or _describe(exc)
                if retryable(exc) and time.monotonic() < give_up:
                    await asyncio.sleep(RETRY_PAUSE)
                    continue
                sub.refused = _describe(exc)
                return
            sub.session_id = str(session["session_id"])
            return


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return f"HTTP {exc.status}: {str(exc.body)[:200]}"
    return f"{type(exc).__name__}: {exc}"[:200]
