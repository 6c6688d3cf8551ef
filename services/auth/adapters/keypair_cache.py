"""A short-lived in-memory cache in front of a KeypairStore (the verification hot path).

Every request is verified, so lookups must not hit the database each time. Entries live `ttl`
seconds; revocations drop entries at once on every replica (adapters.revocation), and while
that channel is down `bypass` turns caching off. Concurrent misses for the same key share one
lookup.

Both maps are LRU-bounded (rule R-BOUNDED-CACHE in docs/reliability.md): a hit moves its entry to
the young end and a full map drops its oldest entry, O(1) per miss. Unknown keys are cached in a
separate, smaller map for `negative_ttl` seconds, so a flood of made-up keys costs at most one
query per key and can never push the real keypairs out of the cache.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from services.auth.domain.model import KeypairOwner
from services.auth.service.ports import KeypairStore


class _Lru:
    """Entries `key -> (expires_at, value)`, oldest use first, at most `bound` of them."""

    def __init__(self, bound: int) -> None:
        self._bound = max(1, bound)
        self._items: OrderedDict[str, tuple[float, KeypairOwner | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, now: float) -> tuple[bool, KeypairOwner | None]:
        item = self._items.get(key)
        if item is None:
            return False, None
        if item[0] <= now:
            del self._items[key]
            return False, None
        self._items.move_to_end(key)
        return True, item[1]

    def put(self, key: str, expires_at: float, value: KeypairOwner | None) -> None:
        self._items[key] = (expires_at, value)
        self._items.move_to_end(key)
        while len(self._items) > self._bound:
            self._items.popitem(last=False)

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


class CachedKeypairStore:
    def __init__(
        self,
        inner: KeypairStore,
        *,
        ttl: float = 5.0,
        max_entries: int = 10_000,
        negative_ttl: float = 1.0,
        max_negative_entries: int = 4_096,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._monotonic = monotonic
        self._known = _Lru(max_entries)
        self._unknown = _Lru(max_negative_entries)
        self._loading: dict[str, asyncio.Future[KeypairOwner | None]] = {}
        self._stale: set[str] = set()
        self.bypass = False  # set while revocations cannot reach this replica

    def __len__(self) -> int:
        return len(self._known) + len(self._unknown)

    async def find(self, access_key: str) -> KeypairOwner | None:
        if self.bypass:
            return await self._inner.find(access_key)
        now = self._monotonic()
        for lru in (self._known, self._unknown):
            hit, value = lru.get(access_key, now)
            if hit:
                return value
        loading = self._loading.get(access_key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(access_key))
            loading.add_done_callback(_retrieve)
            self._loading[access_key] = loading
        # Shielded: one waiter being cancelled must not cancel the lookup the others share.
        return await asyncio.shield(loading)

    def invalidate(self, access_key: str) -> None:
        self._known.pop(access_key)
        self._unknown.pop(access_key)
        if access_key in self._loading:
            # The lookup in flight may have read the row before the change: do not remember it.
            self._stale.add(access_key)

    def clear(self) -> None:
        self._known.clear()
        self._unknown.clear()
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
        if owner is None:
            self._known.pop(access_key)
            self._unknown.put(access_key, now + self._negative_ttl, None)
        else:
            self._unknown.pop(access_key)
            self._known.put(access_key, now + self._ttl, owner)


def _retrieve(future: asyncio.Future[KeypairOwner | None]) -> None:
    # Mark a failed lookup's exception as seen even when every waiter was cancelled.
    if not future.cancelled():
        future.exception()
