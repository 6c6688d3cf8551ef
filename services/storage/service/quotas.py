"""Quota scopes: limits set by superadmins, usage read by the scope's owner, and the check that
keeps uploads within the limit (the `vfs` backend has no filesystem quota: the service enforces
it before storing bytes; see docs/storage.md)."""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.errors import FieldViolation, InvalidArgument, PermissionDenied
from libs.core.identity import Caller, Role
from services.storage.domain import quota
from services.storage.domain.model import VFolder
from services.storage.service.quota_ports import QuotaStore
from services.storage.service.volumes import Volumes


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeUsage:
    volume: str
    scope_id: str
    limit_bytes: int  # 0: no limit
    used_bytes: int


class QuotaScopes:
    def __init__(self, *, store: QuotaStore, volumes: Volumes) -> None:
        self._store = store
        self._volumes = volumes

    async def get(self, caller: Caller, volume: str, scope_id: str) -> ScopeUsage:
        scope = quota.parse_scope_id(scope_id)
        name = self._volumes.get(volume).name
        if not quota.may_read(caller, scope):
            raise quota.QuotaScopeNotFound(f"quota scope {scope_id} not found")
        return ScopeUsage(
            volume=name,
            scope_id=scope,
            limit_bytes=await self._store.limit_of(name, scope),
            used_bytes=await self._used(name, scope),
        )

    async def set(self, caller: Caller, volume: str, scope_id: str, limit_bytes: int) -> ScopeUsage:
        if not (caller.system or caller.role is Role.SUPERADMIN):
            raise PermissionDenied("only superadmins set quota limits")
        if limit_bytes < 0:
            raise InvalidArgument(
                "invalid limit",
                violations=[FieldViolation("limit_bytes", "must not be negative")],
            )
        scope = quota.parse_scope_id(scope_id)
        name = self._volumes.get(volume).name
        await self._store.set_limit(name, scope, limit_bytes)
        return await self.get(caller, name, scope)

    async def ensure_room(self, folder: VFolder, incoming: int) -> None:
        """QUOTA_EXCEEDED when `incoming` more bytes take the folder's scope past its limit."""
        scope = quota.scope_of(folder)
        limit = await self._store.limit_of(folder.volume, scope)
        if limit <= 0:
            return
        left = quota.room_left(limit, await self._used(folder.volume, scope))
        if left is not None and incoming > left:
            raise quota.QuotaScopeFull(
                f"quota scope {scope} has {left} of {limit} bytes left on volume "
                f"{folder.volume}; {incoming} more do not fit",
                metadata={"scope_id": scope, "limit_bytes": str(limit), "left": str(left)},
            )

    async def _used(self, volume: str, scope: str) -> int:
        backend = self._volumes.get(volume)
        total = 0
        for folder in await self._store.folders_of(volume, scope):
            used, _count = await backend.usage(folder.id)
            total += used
        return total
