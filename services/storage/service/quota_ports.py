"""What quota scopes need from persistence."""

from __future__ import annotations

from typing import Protocol

from services.storage.domain.model import VFolder


class QuotaStore(Protocol):
    async def limit_of(self, volume: str, scope_id: str) -> int:
        """The scope's limit on the volume; 0 when none is set."""
        ...

    async def set_limit(self, volume: str, scope_id: str, limit_bytes: int) -> None:
        """Set (or with 0, clear) the limit; idempotent."""
        ...

    async def folders_of(self, volume: str, scope_id: str) -> list[VFolder]:
        """The scope's folders on the volume that hold data (ready, cloning or trashed)."""
        ...
