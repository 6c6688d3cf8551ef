"""Usage sums in SQL: each report is two queries whatever the number of kernels or bins.

A kernel's span is [started_at, terminated_at or now) clipped to the period; its allocation is
its requested slots (JSONB of decimal strings, unnested with jsonb_each_text). The series joins
the kernels to generate_series bins they overlap (never one query per kernel per bin). LEAST and
GREATEST skip NULLs, hence the FILTER on the empty bins of the outer join.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.domain.usage import UsageBin, UsageRecord, UsageScope

# Kernels that ran inside [:start, :end), their span clipped to it, narrowed by the scope.
_SPANS = """
WITH spans AS (
  SELECT s.owner_user_id AS user_id, s.project_id, s.domain_name, s.id AS session_id,
         k.id AS kernel_id, k.requested_slots,
         greatest(k.started_at, CAST(:start AS timestamptz)) AS a,
         least(coalesce(k.terminated_at, CAST(:now AS timestamptz)), CAST(:end AS timestamptz)) AS b
  FROM registry.kernels k JOIN registry.sessions s ON s.id = k.session_id
  WHERE k.started_at IS NOT NULL
    AND k.started_at < CAST(:end AS timestamptz)
    AND (k.terminated_at IS NULL OR k.terminated_at > CAST(:start AS timestamptz))
    AND (CAST(:user_id AS text) IS NULL OR s.owner_user_id = CAST(:user_id AS text))
    AND (CAST(:project_id AS text) IS NULL OR s.project_id = CAST(:project_id AS text))
    AND (CAST(:domain_name AS text) IS NULL OR s.domain_name = CAST(:domain_name AS text))
), live AS (SELECT * FROM spans WHERE b > a)
"""

_TOTALS = (
    _SPANS
    + """
SELECT user_id, project_id, domain_name, count(DISTINCT session_id) AS sessions,
       count(*) AS kernels, sum(extract(epoch FROM b - a)) AS seconds
FROM live GROUP BY user_id, project_id, domain_name
ORDER BY domain_name, user_id, project_id
"""
)

_SLOT_SECONDS = (
    _SPANS
    + """
SELECT user_id, project_id, domain_name, slot.key AS slot,
       sum(extract(epoch FROM b - a) * CAST(slot.value AS numeric)) AS amount
FROM live CROSS JOIN LATERAL jsonb_each_text(live.requested_slots) AS slot
GROUP BY user_id, project_id, domain_name, slot.key
"""
)

_BINS = """
, bins AS (
  SELECT CAST(:start AS timestamptz) + i * CAST(:width AS interval) AS t0
  FROM generate_series(0, CAST(:count AS integer) - 1) AS i
)
"""

_SERIES = (
    _SPANS
    + _BINS
    + """
SELECT bins.t0, count(DISTINCT live.session_id) AS sessions, count(live.kernel_id) AS kernels,
       coalesce(sum(extract(epoch FROM
         least(live.b, bins.t0 + CAST(:width AS interval)) - greatest(live.a, bins.t0)))
         FILTER (WHERE live.kernel_id IS NOT NULL), 0) AS seconds
FROM bins LEFT JOIN live
  ON live.a < bins.t0 + CAST(:width AS interval) AND live.b > bins.t0
GROUP BY bins.t0 ORDER BY bins.t0
"""
)

_SERIES_SLOTS = (
    _SPANS
    + _BINS
    + """
SELECT bins.t0, slot.key AS slot, sum(CAST(slot.value AS numeric)) AS amount
FROM bins JOIN live ON live.a < bins.t0 + CAST(:width AS interval) AND live.b > bins.t0
CROSS JOIN LATERAL jsonb_each_text(live.requested_slots) AS slot
GROUP BY bins.t0, slot.key
"""
)


class SqlUsageStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def usage(
        self, scope: UsageScope, start: datetime, end: datetime, now: datetime | None = None
    ) -> list[UsageRecord]:
        params = _params(scope, start, end, now)
        async with self._sessions() as db:
            totals = (await db.execute(text(_TOTALS), params)).all()
            slots = (await db.execute(text(_SLOT_SECONDS), params)).all()
        per_owner: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
        for user_id, project_id, domain_name, slot, amount in slots:
            per_owner[(user_id, project_id, domain_name)][slot] = float(amount)
        return [
            UsageRecord(
                user_id=user_id,
                project_id=project_id,
                domain_name=domain_name,
                session_count=int(sessions),
                kernel_count=int(kernels),
                used_seconds=float(seconds),
                slot_seconds=per_owner[(user_id, project_id, domain_name)],
            )
            for user_id, project_id, domain_name, sessions, kernels, seconds in totals
        ]

    async def series(
        self,
        scope: UsageScope,
        start: datetime,
        end: datetime,
        width: timedelta,
        now: datetime | None = None,
    ) -> list[UsageBin]:
        params = {
            **_params(scope, start, end, now),
            "width": width,
            "count": math.ceil((end - start) / width),
        }
        async with self._sessions() as db:
            rows = (await db.execute(text(_SERIES), params)).all()
            slots = (await db.execute(text(_SERIES_SLOTS), params)).all()
        allocated: dict[datetime, dict[str, float]] = defaultdict(dict)
        for t0, slot, amount in slots:
            allocated[t0][slot] = float(amount)
        return [
            UsageBin(
                start=t0,
                session_count=int(sessions),
                kernel_count=int(kernels),
                used_seconds=float(seconds),
                allocated=allocated.get(t0, {}),
            )
            for t0, sessions, kernels, seconds in rows
        ]


def _params(
    scope: UsageScope, start: datetime, end: datetime, now: datetime | None
) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "now": now or datetime.now(UTC),
        "user_id": scope.user_id or None,
        "project_id": scope.project_id or None,
        "domain_name": scope.domain_name or None,
    }
