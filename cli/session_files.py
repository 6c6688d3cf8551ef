"""`shipyard session files ls|get|put`: a session's work directory (docs/session-files.md)."""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from cli.client import ShipyardClient

ClientFactory = Callable[[argparse.Namespace], ShipyardClient]
PIECE = 512 * 1024  # bytes per call (base64 JSON through the edge)
_KINDS = {"KERNEL_FILE_KIND_DIRECTORY": "d", "KERNEL_FILE_KIND_SYMLINK": "l"}


def _base(session_id: str) -> str:
    return f"/v1/sessions/{session_id}/files"


async def list_files(client: ShipyardClient, session_id: str, path: str) -> list[dict[str, Any]]:
    """Every entry of the directory, page after page."""
    entries: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"path": path, "page_size": 1000, "page_token": token}
        page = await client.request("GET", _base(session_id), params=params)
        entries += page.get("files", [])
        token = page.get("next_page_token", "")
        if not token:
            return entries


async def download(client: ShipyardClient, session_id: str, path: str, out: Any) -> int:
    """Write the remote file to the binary stream `out`; the number of bytes."""
    offset, size = 0, None
    while size is None or offset < size:
        params = {"path": path, "offset": offset, "length": PIECE}
        piece = await client.request("GET", f"{_base(session_id)}:download", params=params)
        data = base64.b64decode(piece.get("data", ""))
        size = int(piece.get("size", 0))
        if not data:
            break  # the file shrank meanwhile
        out.write(data)
        offset += len(data)
    return offset


async def upload(client: ShipyardClient, session_id: str, local: Path, path: str) -> int:
    """Replace the remote file with the local one, piece by piece; its size."""
    offset, size = 0, 0
    with local.open("rb") as src:
        while True:
            data = src.read(PIECE)
            if offset and not data:
                return size
            body = {
                "path": path,
                "offset": offset,
                "data": base64.b64encode(data).decode(),
                "truncate": offset == 0,
            }
            written = await client.request("POST", f"{_base(session_id)}:upload", body=body)
            size = int(written.get("size", 0))
            offset += len(data)
            if not data:
                return size


def register(session: Any, make_client: ClientFactory) -> None:
    """Add `files ls|get|put` to `shipyard session`'s subparsers."""

    async def cmd_ls(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            entries = await list_files(client, args.session_id, args.path)
        for e in entries:
            kind = _KINDS.get(e.get("kind", ""), "-")
            print(f"{kind} {int(e.get('size', 0)):>12} {e.get('modify_time', '')} {e['name']}")
        return 0

    async def cmd_get(args: argparse.Namespace) -> int:
        local = args.local or PurePosixPath(args.path).name
        async with make_client(args) as client:
            if local == "-":
                await download(client, args.session_id, args.path, sys.stdout.buffer)
                return 0
            partial = Path(f"{local}.part")
            with partial.open("wb") as out:  # noqa: ASYNC230 - a CLI: nothing else runs
                size = await download(client, args.session_id, args.path, out)
            partial.replace(local)  # noqa: ASYNC240
        print(f"{args.path} -> {local} ({size} bytes)", file=sys.stderr)
        return 0

    async def cmd_put(args: argparse.Namespace) -> int:
        local = Path(args.local)
        path = args.path or local.name
        async with make_client(args) as client:
            size = await upload(client, args.session_id, local, path)
        print(f"{local} -> {path} ({size} bytes)", file=sys.stderr)
        return 0

    files = session.add_parser(
        "files", help="files in the session's work directory (/home/work)"
    ).add_subparsers(required=True)
    ls = files.add_parser("ls", help="list a directory (default: the work directory)")
    ls.add_argument("session_id")
    ls.add_argument("path", nargs="?", default="")
    ls.set_defaults(func=cmd_ls)
    get = files.add_parser("get", help="download a file (LOCAL '-': to stdout)")
    get.add_argument("session_id")
    get.add_argument("path")
    get.add_argument("local", nargs="?", default="")
    get.set_defaults(func=cmd_get)
    put = files.add_parser("put", help="upload a file (replacing what was there)")
    put.add_argument("session_id")
    put.add_argument("local")
    put.add_argument("path", nargs="?", default="")
    put.set_defaults(func=cmd_put)
