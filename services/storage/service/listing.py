"""ListVFolders: the ready folders within the caller's scope, keyset-paged."""

from __future__ import annotations

import dataclasses

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from services.storage.domain.access import list_filter
from services.storage.domain.model import Cursor, VFolderPage, VFolderStatus
from services.storage.service.mount_gate import MountGate
from services.storage.service.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    decode_token,
    encode_token,
)
from services.storage.service.ports import UnitOfWorkFactory


class ListVFolders:
    def __init__(self, *, uow: UnitOfWorkFactory, gate: MountGate | None = None) -> None:
        self._uow = uow
        self._gate = gate

    async def __call__(
        self, caller: Caller, *, page_size: int = 0, page_token: str = "", trashed: bool = False
    ) -> VFolderPage:
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(
                "invalid page size",
                violations=[FieldViolation("page_size", f"must be in 0..{MAX_PAGE_SIZE}")],
            )
        limit = page_size or DEFAULT_PAGE_SIZE
        after = decode_token(page_token)
        scope = list_filter(caller)
        if trashed:
            scope = dataclasses.replace(scope, status=VFolderStatus.TRASHED)
        async with self._uow() as uow:
            # One extra row tells whether another page follows.
            rows = await uow.vfolders.list(scope=scope, after=after, limit=limit + 1)
        page = tuple(rows[:limit])
        if self._gate is not None and not trashed:
            page = await self._gate.mark(page)
        token = ""
        if len(rows) > limit:
            last = page[-1]
            token = encode_token(Cursor(created_at=last.created_at, id=last.id))
        return VFolderPage(vfolders=page, next_page_token=token)
