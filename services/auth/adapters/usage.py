"""Record keypairs' `last_used_at` without a database write per request.

`touch` only updates memory, and records a key at most once per `interval`; a background task
writes what is pending in one batched UPDATE every `flush_every` seconds. The column is thus
accurate to about `interval` (per replica), which is all it is used for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.adapters.tables import KeypairRow

log = logging.getLogger(__name__)


class SqlUsageRecorder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval: float = 60.0,
        flush_every: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._interval = timedelta(seconds=interval)
        self._flush_every = flush_every
        self._recorded: dict[str, datetime] = {}
        self._pending: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def touch(self, access_key: str, at: datetime) -> None:
        last = self._recorded.get(access_key)
        if last is not None and at - last < self._interval:
            return
        self._recorded[access_key] = at
        self._pending[access_key] = at

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="auth-usage-flush")

    async def stop(self) -> None:
        """Stop the background task and write what is still pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        rows = [{"key": key, "at": at} for key, at in batch.items()]
        statement = (
            update(KeypairRow)
            .where(KeypairRow.access_key == bindparam("key"))
            .values(last_used_at=bindparam("at"))
        )
        try:
            async with self._sessions() as session, session.begin():
                # executemany via the Connection: ORM bulk UPDATE wants primary-key dicts.
                conn = await session.connection()
                await conn.execute(statement, rows)
        except Exception:
            log.warning("could not record %d keypairs' last use", len(rows), exc_info=True)
            for key, at in batch.items():  # retry next time unless a newer use superseded it
                self._pending.setdefault(key, at)
        self._forget_older_than(max(batch.values()) - self._interval)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            await self.flush()

    def _forget_older_than(self, cutoff: datetime) -> None:
        # Keys not used for a whole interval need no memory: their next use is recorded anyway.
        self._recorded = {k: v for k, v in self._recorded.items() if v > cutoff}
