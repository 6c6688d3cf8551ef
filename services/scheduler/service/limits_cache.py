"""Tenant limits for the cycle, cached for a few seconds so each cycle costs auth no call.

Policies change rarely and the registry re-checks concurrency on every bind, so a limit a few
seconds old is safe. When auth cannot answer, entries up to `stale_ttl` old are still used;
beyond that the error propagates and the cycle waits (placing past an unknown limit would be
worse than placing late).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TypeVar

from libs.core.errors import ShipyardError
from services.scheduler.domain.limits import KeypairLimits, Limits, SlotQuota
from services.scheduler.service.ports import Clock, LimitsSource

log = logging.getLogger(__name__)

_V = TypeVar("_V")
# (fetched at, value or None for "no limits"), per owner.
_Entries = dict[str, tuple[float, _V | None]]


class CachedLimits:
    def __init__(
        self, source: LimitsSource, *, clock: Clock, ttl: float = 5.0, stale_ttl: float = 60.0
    ) -> None:
        self._source = source
        self._clock = clock
        self._ttl = ttl
        self._stale_ttl = stale_ttl
        self._keypairs: _Entries[KeypairLimits] = {}
        self._projects: _Entries[SlotQuota] = {}
        self._domains: _Entries[SlotQuota] = {}

    async def limits(
        self,
        *,
        access_keys: Sequence[str],
        project_ids: Sequence[str],
        domain_names: Sequence[str],
    ) -> Limits:
        now = self._clock()
        keys = _older(self._keypairs, access_keys, now - self._ttl)
        projects = _older(self._projects, project_ids, now - self._ttl)
        domains = _older(self._domains, domain_names, now - self._ttl)
        if keys or projects or domains:
            try:
                fresh = await self._source.limits(
                    access_keys=keys, project_ids=projects, domain_names=domains
                )
            except ShipyardError as exc:
                oldest = now - self._stale_ttl
                if (
                    _older(self._keypairs, access_keys, oldest)
                    or _older(self._projects, project_ids, oldest)
                    or _older(self._domains, domain_names, oldest)
                ):
                    raise
                log.warning("limits unavailable (%s); using cached ones", exc.message)
            else:
                _store(self._keypairs, keys, fresh.keypairs, now)
                _store(self._projects, projects, fresh.projects, now)
                _store(self._domains, domains, fresh.domains, now)
        return Limits(
            keypairs=_pick(self._keypairs, access_keys),
            projects=_pick(self._projects, project_ids),
            domains=_pick(self._domains, domain_names),
        )


def _older(entries: _Entries[_V], keys: Sequence[str], before: float) -> list[str]:
    return [k for k in keys if k not in entries or entries[k][0] < before]


def _store(entries: _Entries[_V], keys: Sequence[str], found: Mapping[str, _V], now: float) -> None:
    for key in keys:
        entries[key] = (now, found.get(key))


def _pick(entries: _Entries[_V], keys: Sequence[str]) -> dict[str, _V]:
    picked: dict[str, _V] = {}
    for key in keys:
        value = entries.get(key, (0.0, None))[1]
        if value is not None:
            picked[key] = value
    return picked
