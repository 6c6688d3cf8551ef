"""A kernel's stdout/stderr, copied by the agent into `runner.log` with a size bound.

The kernel never holds the log file itself (it writes to a pipe), so a kernel that prints without
end cannot fill the agent's disk: at half the bound the file rolls over to `runner.log.1`, so at
most `limit` bytes are kept and the newest output is always in `runner.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

CHUNK = 64 << 10


async def copy_log(reader: asyncio.StreamReader, path: Path, limit: int) -> None:
    """Copy `reader` to `path` until EOF, keeping at most `limit` bytes over two files."""
    with _RollingFile(path, max(CHUNK, limit // 2)) as out:
        while chunk := await reader.read(CHUNK):
            out.write(chunk)  # small local appends: not worth a thread hop per chunk


class _RollingFile:
    def __init__(self, path: Path, half: int) -> None:
        self._path, self._half = path, half
        self._out = path.open("ab")
        self._written = self._out.tell()

    def write(self, chunk: bytes) -> None:
        if self._written + len(chunk) > self._half:
            # Where the file is now: a pre-started kernel's directory is renamed at hand-out.
            with contextlib.suppress(OSError):
                self._path = Path(f"/proc/self/fd/{self._out.fileno()}").readlink()
            self._out.close()
            with contextlib.suppress(OSError):
                self._path.replace(self._path.with_name(self._path.name + ".1"))
            self._out, self._written = self._path.open("wb"), 0
        chunk = chunk[-self._half :]
        self._out.write(chunk)
        self._out.flush()
        self._written += len(chunk)

    def __enter__(self) -> _RollingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()


def tail(path: Path, size: int = 2000) -> str:
    """The last `size` bytes of the log, for error messages."""
    try:
        return path.read_bytes()[-size:].decode(errors="replace").strip() or "(empty)"
    except OSError:
        return "(none)"
