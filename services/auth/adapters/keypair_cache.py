"""A short-lived in-memory cache in front of a KeypairStore (the verification hot path).

Every request is verified, so lookups must not hit the database each time. Entries live `ttl`
seconds; revocations drop entries at once on every replica (adapters.revocation), and while
that channel is down `bypass` turns caching off. Unknown keys
are cached too (so a flood of bad keys costs one query each per TTL), and concurrent misses
for the same key share one lookup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from services.auth.domain.model import KeypairOwner
from services.auth.service.ports import KeypairStore


class CachedKeypairStore:
    def __init__(
        self,
        inner: KeypairStore,
        *,
        ttl: float = 5.0,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, KeypairOwner | None]] = {}
        self._loading: dict[str, asyncio.Future[KeypairOwner | None]] = {}
        self._stale: set[str] = set()
        self.bypass = False  # set while revocations cannot reach this replica

    async def find(self, access_key: str) -> KeypairOwner | None:
        if self.bypass:
            return await self._inner.find(access_key)
        entry = self._entries.get(access_key)
        if entry is not None and entry[0] > self._monotonic():
            return entry[1]
        loading = self._loading.get(access_key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(access_key))
            loading.add_done_callback(_retrieve)
            self._loading[access_key] = loading
        # Shielded: one waiter being cancelled must not cancel the lookup the others share.
        return await asyncio.shield(loading)

    def invalidate(self, access_key: str) -> None:
        self._entries.pop(access_key, None)
        if access_key in self._loading:
            # The lookup in flight may have read the row before the change: do not remember it.
            self._stale.add(access_key)

    def clear(self) -> None:
        self._entries.clear()
        self._stale.update(self._loading)

    async def _load(self, access_key: str) -> KeypairOwner | None:
        self._stale.discard(access_key)
        try:
            owner = await self._inner.find(access_key)
        finally:
            self._loading.pop(access_key, None)
        if access_key in self._stale:
            self._stale.discard(access_key)
        else:
            self._remember(access_key, owner)
        return owner

    def _remember(self, access_key: str, owner: KeypairOwner | None) -> None:
        now = self._monotonic()
        if len(self._entries) >= self._max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            while len(self._entries) >= self._max_entries:  # still full: drop the oldest
                del self._entries[next(iter(self._entries))]
        self._entries.pop(access_key, None)  # re-insert so dict order stays oldest-first
        self._entries[access_key] = (now + self._ttl, owner)


def _retrieve(future: asyncio.Future[KeypairOwner | None]) -> None:
    # Mark a failed lookup's exception as seen even when every waiter was cancelled.
    if not future.cancelled():
        future.exception()
