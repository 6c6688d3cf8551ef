"""The caller's keypair resource policy, applied to their personal folders.

- `max_vfolder_count` (0: unlimited): a user with that many live personal folders (the trash
  not counted) creates or clones no more (VFOLDER_COUNT_LIMIT).
- `max_vfolder_size` (0: unlimited): the most their personal quota scope may hold on a volume;
  creating (or cloning into) a folder caps the scope's limit to it. Project folders count
  against their project's scope, not the policy.
Callers without an access key (token logins) and other services are not limited here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from libs.core.errors import ResourceExhausted
from libs.core.identity import Caller
from services.storage.domain.access import owner_id_of


@dataclass(frozen=True, slots=True)
class FolderPolicy:
    max_count: int
    max_size: int


class FolderPolicies(Protocol):
    async def for_keypair(self, access_key: str) -> FolderPolicy: ...


class FolderCounter(Protocol):
    async def count_personal(self, owner_user_id: str) -> int: ...

    async def limit_of(self, volume: str, scope_id: str) -> int: ...

    async def set_limit(self, volume: str, scope_id: str, limit_bytes: int) -> None: ...


class FolderCountLimit(ResourceExhausted):
    reason = "VFOLDER_COUNT_LIMIT"


class FolderLimits:
    def __init__(self, *, policies: FolderPolicies, store: FolderCounter) -> None:
        self._policies = policies
        self._store = store

    async def before_create(self, caller: Caller, *, volume: str, project: bool) -> None:
        """Refuse a personal folder past the count; cap the user's scope to the size."""
        if project or caller.system or not caller.access_key:
            return
        policy = await self._policies.for_keypair(caller.access_key)
        owner = owner_id_of(caller)
        if policy.max_count > 0:
            have = await self._store.count_personal(owner)
            if have >= policy.max_count:
                raise FolderCountLimit(
                    f"your resource policy allows {policy.max_count} folders and you have {have}",
                    metadata={"max_vfolder_count": str(policy.max_count)},
                )
        if policy.max_size > 0:
            scope = f"user:{owner}"
            limit = await self._store.limit_of(volume, scope)
            if limit == 0 or limit > policy.max_size:
                await self._store.set_limit(volume, scope, policy.max_size)
