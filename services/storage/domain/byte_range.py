"""HTTP `Range: bytes=...` for downloads: one range, the forms RFC 9110 section 14.1.2 defines.

`first-last`, `first-` and `-suffix`; several ranges (`a-b,c-d`) are answered with the whole
file, as the RFC allows. A range that starts past the end is unsatisfiable (416).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


class Unsatisfiable(ValueError):
    """No byte of the file lies in the requested range."""


def parse(header: str | None, size: int) -> ByteRange | None:
    """The one range the header asks for within `size` bytes; None for the whole file (no
    header, another unit, several ranges or a malformed one, all of which the RFC lets a server
    ignore). Raises Unsatisfiable when the range lies beyond the file."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable(header)
        return ByteRange(max(0, size - suffix), size)
    start = int(first)
    if start >= size:
        raise Unsatisfiable(header)
    end = size if last == "" else min(size, int(last) + 1)
    if end <= start:
        return None  # last < first: syntactically invalid, so ignored
    return ByteRange(start, end)
