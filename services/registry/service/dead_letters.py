"""Dead letters across the registry's event consumers: list them, replay them (superadmins).

Each consumer group's parked events live in their own queue (`libs.events.dead_letters`); a
dead letter is named "<source>/<entry id>" so one id says which queue it is in. Replaying puts
the event back on its stream exactly once (rule R-OUTAGE-BACKOFF in docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from libs.core.dead_letter import DeadLetter
from libs.core.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE = 50
MAX_PAGE = 500


class DeadLetterSource(Protocol):
    """One consumer group's dead letters (DeadLetterQueue in libs/events/dead_letters.py)."""

    async def entries(self, *, after: str = "", count: int = 50) -> list[DeadLetter]: ...

    async def count(self) -> int: ...

    async def replay(self, entry_ids: Iterable[str]) -> dict[str, str | None]: ...

    async def replay_all(self, *, batch: int = 256) -> dict[str, str | None]: ...


@dataclass(frozen=True, slots=True)
class NamedDeadLetter:
    dead_letter_id: str
    source: str
    letter: DeadLetter


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    items: list[NamedDeadLetter]
    next_token: str
    total: int


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    replayed: list[tuple[str, str]]  # (dead letter id, new entry id)
    not_found: list[str]


def _split(dead_letter_id: str, field: str) -> tuple[str, str]:
    source, sep, entry_id = dead_letter_id.partition("/")
    if not sep or not source or not entry_id:
        raise InvalidArgument(
            f"{field} must look like <source>/<entry id>, not {dead_letter_id!r}",
            violations=[FieldViolation(field, "must look like <source>/<entry id>")],
        )
    return source, entry_id


class DeadLetters:
    def __init__(self, sources: Mapping[str, DeadLetterSource]) -> None:
        self._sources = dict(sorted(sources.items()))

    async def list(self, page_size: int, page_token: str) -> DeadLetterPage:
        size = min(page_size or DEFAULT_PAGE, MAX_PAGE)
        names = list(self._sources)
        start_source, after = (
            _split(page_token, "page_token") if page_token else (names[0] if names else "", "")
        )
        items: list[NamedDeadLetter] = []
        for name in names:
            if name < start_source:
                continue
            cursor = after if name == start_source else ""
            got = await self._sources[name].entries(after=cursor, count=size - len(items) + 1)
            items += [NamedDeadLetter(f"{name}/{d.entry_id}", name, d) for d in got]
            if len(items) > size:
                break
        total = sum([await s.count() for s in self._sources.values()])
        if len(items) > size:
            items = items[:size]
            return DeadLetterPage(items, items[-1].dead_letter_id, total)
        return DeadLetterPage(items, "", total)

    async def replay(self, dead_letter_ids: Sequence[str], *, replay_all: bool) -> ReplayOutcome:
        if replay_all == bool(dead_letter_ids):
            raise InvalidArgument(
                "name dead letters to replay, or set all (not both)",
                violations=[FieldViolation("dead_letter_ids", "give ids or all, not both")],
            )
        done: dict[str, str | None] = {}
        if replay_all:
            for name, source in self._sources.items():
                got = await source.replay_all()
                done.update({f"{name}/{k}": v for k, v in got.items()})
        else:
            wanted: dict[str, list[str]] = {}
            for dead_letter_id in dead_letter_ids:
                name, entry_id = _split(dead_letter_id, "dead_letter_ids")
                wanted.setdefault(name, []).append(entry_id)
            for name, entry_ids in wanted.items():
                queue = self._sources.get(name)
                if queue is None:
                    done.update({f"{name}/{e}": None for e in entry_ids})
                    continue
                got = await queue.replay(entry_ids)
                done.update({f"{name}/{k}": v for k, v in got.items()})
        return ReplayOutcome(
            replayed=[(k, v) for k, v in done.items() if v],
            not_found=[k for k, v in done.items() if not v],
        )
