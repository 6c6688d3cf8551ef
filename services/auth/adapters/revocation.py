"""Revocation across auth replicas: Redis pub/sub tells every replica to drop cached keypairs.

The replica making the change drops its own entries before publishing. Subscribers drop what
each message names, or everything. While the subscription is down (Redis unreachable), the
cache is bypassed so that a revoked keypair never outlives the change by more than a lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.auth.adapters.keypair_cache import CachedKeypairStore

log = logging.getLogger(__name__)


class RedisRevocations:
    def __init__(self, redis: Redis, prefix: str, cache: CachedKeypairStore) -> None:
        self._redis = redis
        self._channel = f"{prefix}auth:keypair-revocations"
        self._cache = cache
        self.ready = asyncio.Event()  # set once subscribed (tests wait for it)

    async def revoke(self, access_keys: Sequence[str] = (), *, everything: bool = False) -> None:
        self._apply(list(access_keys), everything)
        message = json.dumps({"keys": list(access_keys), "all": everything})
        try:
            await self._redis.publish(self._channel, message)
        except RedisError:
            # Subscribers whose connection broke bypass their caches; healthy ones expire the
            # entry within the cache TTL. The change itself is committed either way.
            log.exception("could not publish a keypair revocation")

    async def run(self) -> None:
        """Follow the channel until cancelled, resubscribing after connection loss."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.warning("keypair revocation channel lost; bypassing the cache", exc_info=True)
            self._cache.bypass = True
            self.ready.clear()
            await asyncio.sleep(0.5)

    async def _follow(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            # Anything cached before the subscription may have missed a message.
            self._cache.clear()
            self._cache.bypass = False
            self.ready.set()
            while True:
                # Polled rather than `listen()`: cancelling an async generator mid-read can
                # leave it running, and the task would never finish.
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    self._on_message(message.get("data"))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), 1.0)  # type: ignore[no-untyped-call]

    def _on_message(self, data: object) -> None:
        try:
            body = json.loads(data)  # type: ignore[arg-type]  # bytes from Redis
            self._apply([str(k) for k in body.get("keys", [])], bool(body.get("all")))
        except (ValueError, TypeError, AttributeError):
            log.warning("ignoring a malformed revocation message")

    def _apply(self, access_keys: list[str], everything: bool) -> None:
        if everything:
            self._cache.clear()
        for key in access_keys:
            self._cache.invalidate(key)
