"""Range headers as a download client sends them."""

from __future__ import annotations

import pytest

from services.storage.domain.byte_range import ByteRange, Unsatisfiable, parse


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 100)),
        ("bytes=100-", ByteRange(100, 1000)),
        ("bytes=-10", ByteRange(990, 1000)),
        ("bytes=-5000", ByteRange(0, 1000)),
        ("bytes=900-5000", ByteRange(900, 1000)),
        ("Bytes = 5-5", ByteRange(5, 6)),
    ],
)
def test_a_single_range_is_clamped_to_the_file(header: str, expected: ByteRange) -> None:
    assert parse(header, 1000) == expected


@pytest.mark.parametrize(
    "header", [None, "", "items=0-1", "bytes=0-1,5-9", "bytes=x-1", "bytes=9-1", "bytes=-", "bytes"]
)
def test_what_the_server_may_ignore_gives_the_whole_file(header: str | None) -> None:
    assert parse(header, 1000) is None


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", 1000), ("bytes=-0", 1000), ("bytes=-1", 0)]
)
def test_a_range_beyond_the_end_is_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse(header, size)


def test_the_content_range_names_the_inclusive_last_byte_and_the_size() -> None:
    assert ByteRange(0, 100).content_range(1000) == "bytes 0-99/1000"
