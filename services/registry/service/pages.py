"""Keyset pages over names: the use cases fetch one extra row to know whether more follow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    # Key of the last item when more follow (the API encodes it as next_page_token).
    next_key: tuple[str, ...] | None


def limit_for(page_size: int) -> int:
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def cut(rows: Sequence[T], limit: int, key: Callable[[T], tuple[str, ...]]) -> Page[T]:
    """`rows` were fetched with limit + 1."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, key(items[-1]) if more and items else None)
