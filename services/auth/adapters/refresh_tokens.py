"""Refresh tokens in Redis: stored as SHA-256 hashes (a Redis dump reveals no usable token),
consumed atomically (GETDEL) so each works once, and indexed per user for revocation."""

from __future__ import annotations

import hashlib
import math
import secrets

from redis.asyncio import Redis


class RedisRefreshTokenStore:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def create(self, user_id: str, *, ttl: float) -> str:
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        ttl_s = max(math.ceil(ttl), 1)
        user_key = self._user_key(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._token_key(digest), user_id, ex=ttl_s)
            pipe.sadd(user_key, digest)
            pipe.expire(user_key, ttl_s, gt=True)  # lives as long as its longest token
            pipe.expire(user_key, ttl_s, nx=True)
            await pipe.execute()
        return token

    async def consume(self, token: str) -> str | None:
        digest = _digest(token)
        value = await self._redis.getdel(self._token_key(digest))
        if value is None:
            return None
        user_id = value.decode() if isinstance(value, bytes) else str(value)
        await self._redis.srem(self._user_key(user_id), digest)
        return user_id

    async def revoke_user(self, user_id: str) -> None:
        user_key = self._user_key(user_id)
        digests = await self._redis.smembers(user_key)
        keys = [self._token_key(d.decode() if isinstance(d, bytes) else d) for d in digests]
        await self._redis.delete(*keys, user_key)

    def _token_key(self, digest: str) -> str:
        return f"{self._prefix}auth:refresh:{digest}"

    def _user_key(self, user_id: str) -> str:
        return f"{self._prefix}auth:refresh-user:{user_id}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
