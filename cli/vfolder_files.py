"""`shipyard vfolder ls|mkdir|mv|rm|cat`: the files inside a folder, named by id or by name."""

from __future__ import annotations

import argparse
import base64
import sys
import uuid
from collections.abc import Callable
from typing import Any

from cli.client import ApiError, ShipyardClient

ClientFactory = Callable[[argparse.Namespace], ShipyardClient]

_TYPE_MARK = {"FILE_TYPE_DIRECTORY": "/", "FILE_TYPE_SYMLINK": "@"}


async def folder_id(client: ShipyardClient, ref: str) -> str:
    """`ref` itself when it is a folder id, else the id of the caller's folder of that name."""
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        pass
    matches = [f["vfolder_id"] for f in await client.list_vfolders() if f["name"] == ref]
    if len(matches) != 1:
        found = "no folder" if not matches else f"{len(matches)} folders"
        raise ApiError(404, {"message": f"{found} named {ref!r}: give its id instead"})
    return str(matches[0])


def _files(folder: str) -> str:
    return f"/v1/vfolders/{folder}/files"


async def _ls(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    token = ""
    while True:
        params: dict[str, Any] = {"path": args.path}
        if token:
            params["page_token"] = token
        page = await client.request("GET", _files(folder), params=params)
        for entry in page.get("entries", []):
            mark = _TYPE_MARK.get(entry.get("type", ""), "")
            link = f" -> {entry['symlink_target']}" if entry.get("symlink_target") else ""
            size = int(entry.get("size", 0))
            modified = entry.get("modify_time", "")
            print(f"{size:>12}  {modified:<24}  {entry['name']}{mark}{link}")
        if not (token := page.get("next_page_token", "")):
            return


async def _mkdir(args: argparse.Namespace, client: ShipyardClient) -> None:
    body = {"path": args.path, "parents": args.parents, "exist_ok": args.parents}
    await client.request("POST", _files(await folder_id(client, args.folder)) + ":mkdir", body=body)


async def _mv(args: argparse.Namespace, client: ShipyardClient) -> None:
    body = {"source_path": args.source, "destination_path": args.destination}
    await client.request("POST", _files(await folder_id(client, args.folder)) + ":move", body=body)


async def _rm(args: argparse.Namespace, client: ShipyardClient) -> None:
    body = {"paths": args.paths, "recursive": args.recursive}
    await client.request(
        "POST", _files(await folder_id(client, args.folder)) + ":delete", body=body
    )


async def _cat(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    reply = await client.request("GET", _files(folder) + ":fetch", params={"path": args.path})
    sys.stdout.buffer.write(base64.b64decode(reply.get("content", "")))
    sys.stdout.flush()


def register(vfolder: argparse._SubParsersAction, make_client: ClientFactory) -> None:  # type: ignore[type-arg]
    """Add the file commands under `shipyard vfolder`."""

    def add(name: str, handler: Callable[..., Any], help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = vfolder.add_parser(name, help=help_text)
        parser.add_argument("folder", help="folder id or name")

        async def run(args: argparse.Namespace) -> int:
            async with make_client(args) as client:
                await handler(args, client)
            return 0

        parser.set_defaults(func=run)
        return parser

    add("ls", _ls, "list a directory of a folder").add_argument("path", nargs="?", default="")
    p = add("mkdir", _mkdir, "make a directory in a folder")
    p.add_argument("path")
    p.add_argument("-p", "--parents", action="store_true", help="make parents; exist is fine")
    p = add("mv", _mv, "rename or move within a folder (never replaces)")
    p.add_argument("source")
    p.add_argument("destination")
    p = add("rm", _rm, "delete files (directories with -r)")
    p.add_argument("paths", nargs="+")
    p.add_argument("-r", "--recursive", action="store_true")
    add("cat", _cat, "print a small file (at most 4 MiB)").add_argument("path")
