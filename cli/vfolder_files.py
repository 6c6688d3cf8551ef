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


async def _invite(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    body = {"emails": args.emails, "permission": _PERMISSIONS[args.permission]}
    reply = await client.request("POST", f"/v1/vfolders/{folder}:invite", body=body)
    for invitation in reply.get("invitations", []):
        print(f"{invitation['invitation_id']}  {invitation['invitee_email']}  {args.permission}")


async def _invitations(args: argparse.Namespace, client: ShipyardClient) -> None:
    params = {"sent": "true"} if args.sent else None
    reply = await client.request("GET", "/v1/vfolder-invitations", params=params)
    for i in reply.get("invitations", []):
        who = i["invitee_email"] if args.sent else i["inviter_email"]
        perm = _PERMISSION_NAMES.get(i.get("permission", ""), "?")
        print(f"{i['invitation_id']}  {i['vfolder_name']}  {perm}  {who}")


def _invitation_act(verb: str) -> Callable[[argparse.Namespace, ShipyardClient], Any]:
    async def act(args: argparse.Namespace, client: ShipyardClient) -> None:
        path = f"/v1/vfolder-invitations/{args.invitation_id}:{verb}"
        await client.request("POST", path, body={})

    return act


async def _share(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    body = {"emails": args.emails, "permission": _PERMISSIONS[args.permission]}
    await client.request("POST", f"/v1/vfolders/{folder}:share", body=body)


async def _unshare(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    await client.request("POST", f"/v1/vfolders/{folder}:unshare", body={"emails": args.emails})


async def _leave(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    await client.request("POST", f"/v1/vfolders/{folder}:leave", body={})


async def _rename(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    body = {"vfolder": {"name": args.new_name}, "update_mask": "name"}
    await client.request("PATCH", f"/v1/vfolders/{folder}", body=body)


async def _trash(_args: argparse.Namespace, client: ShipyardClient) -> None:
    reply = await client.request("GET", "/v1/vfolders", params={"trashed": "true"})
    for f in reply.get("vfolders", []):
        print(f"{f['vfolder_id']}  {f['name']}  trashed {f.get('trash_time', '')}")


async def _restore(args: argparse.Namespace, client: ShipyardClient) -> None:
    await client.request("POST", f"/v1/vfolders/{args.vfolder_id}:restore", body={})


_PERMISSIONS = {
    "ro": "MOUNT_PERMISSION_READ_ONLY",
    "rw": "MOUNT_PERMISSION_READ_WRITE",
    "wd": "MOUNT_PERMISSION_READ_WRITE_DELETE",
}
_PERMISSION_NAMES = {v: k for k, v in _PERMISSIONS.items()}


def register_sharing(vfolder: argparse._SubParsersAction, make_client: ClientFactory) -> None:  # type: ignore[type-arg]
    """Add sharing, invitation, rename and trash commands under `shipyard vfolder`."""

    def add(name: str, handler: Callable[..., Any], help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = vfolder.add_parser(name, help=help_text)

        async def run(args: argparse.Namespace) -> int:
            async with make_client(args) as client:
                await handler(args, client)
            return 0

        parser.set_defaults(func=run)
        return parser

    for name, handler, text in (
        ("invite", _invite, "invite users (by e-mail) to a personal folder"),
        ("share", _share, "give project members their own permission on a project folder"),
    ):
        p = add(name, handler, text)
        p.add_argument("folder", help="folder id or name")
        p.add_argument("emails", nargs="+")
        p.add_argument("--permission", choices=sorted(_PERMISSIONS), default="ro")
    p = add("unshare", _unshare, "take back what sharing or an invitation gave")
    p.add_argument("folder", help="folder id or name")
    p.add_argument("emails", nargs="+")
    p = add("invitations", _invitations, "pending invitations you received (or sent)")
    p.add_argument("--sent", action="store_true")
    for verb in ("accept", "reject", "cancel"):
        add(verb, _invitation_act(verb), f"{verb} an invitation").add_argument("invitation_id")
    add("leave", _leave, "give up a folder shared with you").add_argument("folder")
    p = add("rename", _rename, "rename a folder")
    p.add_argument("folder", help="folder id or name")
    p.add_argument("new_name")
    add("trash", _trash, "list your trashed folders")
    add("restore", _restore, "bring a folder back from the trash").add_argument("vfolder_id")
