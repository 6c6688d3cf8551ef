"""GetUsage and GetUsageSeries: what sessions used, narrowed to what the caller may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from libs.core import access
from libs.core.access import Resource, Scope, Verb
from libs.core.identity import Caller
from services.registry.domain.errors import UsageNotVisible
from services.registry.domain.usage import (
    UsageBin,
    UsageRecord,
    UsageScope,
    bin_width,
    period,
)


class UsageStore(Protocol):
    async def usage(self, scope: UsageScope, start: datetime, end: datetime) -> list[UsageRecord]:
        """One record per (user, project), ordered by domain, user and project."""
        ...

    async def series(
        self, scope: UsageScope, start: datetime, end: datetime, width: timedelta
    ) -> list[UsageBin]:
        """One bin per `width` from `start` until `end`, empty bins included, in one query."""
        ...


@dataclass(frozen=True, slots=True)
class Usage:
    store: UsageStore

    async def usage(
        self,
        caller: Caller,
        wanted: UsageScope,
        start: datetime | None,
        end: datetime | None,
    ) -> tuple[datetime, datetime, Sequence[UsageRecord]]:
        scope = visible(caller, wanted)
        start, end = period(start, end, datetime.now(UTC))
        return start, end, await self.store.usage(scope, start, end)

    async def series(
        self,
        caller: Caller,
        wanted: UsageScope,
        start: datetime | None,
        end: datetime | None,
        width: timedelta | None,
    ) -> tuple[timedelta, Sequence[UsageBin]]:
        scope = visible(caller, wanted)
        start, end = period(start, end, datetime.now(UTC))
        width = bin_width(width, start, end)
        return width, await self.store.series(scope, start, end, width)


def visible(caller: Caller, wanted: UsageScope) -> UsageScope:
    """`wanted`, narrowed to the caller's reach: users see their own usage, domain admins
    their domain's; naming anyone outside it is refused (NOT_FOUND, as for a stranger's session)."""
    scope = access.scope_of(caller, Resource.USAGE, Verb.READ)
    if caller.system or scope is Scope.ALL:
        return wanted
    if wanted.domain_name and wanted.domain_name != caller.domain_name:
        raise UsageNotVisible.of(
            "domain_name", "no such domain among those whose usage you may see"
        )
    if scope is Scope.DOMAIN:
        return UsageScope(
            user_id=wanted.user_id, project_id=wanted.project_id, domain_name=caller.domain_name
        )
    if wanted.user_id and wanted.user_id != caller.user_id:
        raise UsageNotVisible.of("user_id", "no such user among those whose usage you may see")
    return UsageScope(
        user_id=caller.user_id, project_id=wanted.project_id, domain_name=caller.domain_name
    )
