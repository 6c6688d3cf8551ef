"""The isolation matrix's cases for managing and sharing folders around user-A1.

Only a folder's owner and admins over it rename, restore and share it; only the parties act on
an invitation (its invitee accepts or rejects, its inviter cancels); everyone else finds nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from libs.core.identity import Caller
from tests.integration.enforce import matrix as m
from tests.integration.enforce.matrix_kit import Case, Platform, req

SHARING = "/shipyard.storage.v1.VFolderSharingService"
FILES = "/shipyard.storage.v1.FileService"
VFOLDERS = "/shipyard.storage.v1.VFolderService"


async def _folder_of(p: Platform, owner: Caller, **fields: Any) -> str:
    method = f"{VFOLDERS}/CreateVFolder"
    created = await p.call(method, req(method, name=f"s-{secrets.token_hex(4)}", **fields), owner)
    return str(created.vfolder.vfolder_id)


async def _invite(p: Platform, inviter: Caller, folder_id: str, invitee: Caller) -> str:
    method = f"{SHARING}/InviteToVFolder"
    made = await p.call(method, req(method, vfolder_id=folder_id, emails=[invitee.email]), inviter)
    return str(made.invitations[0].invitation_id)


def _root(p: Platform) -> Caller:
    root = p.tenancy.callers["superadmin"]
    assert root is not None
    return root


def _a2(p: Platform) -> Caller:
    other = p.tenancy.callers["user-A2"]
    assert other is not None
    return other


async def _invite_a2(p: Platform) -> tuple[Any, str]:
    folder_id = await _folder_of(p, p.tenancy.owner)
    method = f"{SHARING}/InviteToVFolder"
    return req(method, vfolder_id=folder_id, emails=[_a2(p).email]), folder_id


async def _received_by_a1(p: Platform) -> str:
    """An invitation to user-A1 to a folder of the superadmin."""
    root = _root(p)
    return await _invite(p, root, await _folder_of(p, root), p.tenancy.owner)


def _on_received(method: str):
    async def prepare(p: Platform) -> tuple[Any, str]:
        return req(method, invitation_id=await _received_by_a1(p)), ""

    return prepare


async def _listing(p: Platform) -> tuple[Any, str]:
    return req(f"{SHARING}/ListVFolderInvitations"), await _received_by_a1(p)


async def _cancel(p: Platform) -> tuple[Any, str]:
    folder_id = await _folder_of(p, p.tenancy.owner)
    invitation = await _invite(p, p.tenancy.owner, folder_id, _a2(p))
    return req(f"{SHARING}/CancelVFolderInvitation", invitation_id=invitation), ""


def _on_project_folder(method: str):
    """A read-only project folder of user-A1 in project A1, and a new member of A1."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        t = p.tenancy
        folder_id = await _folder_of(p, t.owner, project_id=t.project_a1, permission=2)
        member = await m.new_member(
            p.channels["auth"], p.token, _root(p), domain=t.domain_a, project_id=t.project_a1
        )
        fields: dict[str, Any] = {"vfolder_id": folder_id, "emails": [member.email]}
        if method.endswith("/ShareVFolder"):
            fields["permission"] = 1
        return req(method, **fields), folder_id

    return prepare


async def _leave(p: Platform) -> tuple[Any, str]:
    """A personal folder of a user of domain B, shared with user-A1 by the superadmin."""
    b_admin = p.tenancy.callers["admin-B"]
    assert b_admin is not None
    owner = await m.new_member(
        p.channels["auth"],
        p.token,
        _root(p),
        domain=b_admin.domain_name,
        project_id=p.tenancy.project_b1,
    )
    folder_id = await _folder_of(p, owner)
    invitation = await _invite(p, _root(p), folder_id, p.tenancy.owner)
    accept = f"{SHARING}/AcceptVFolderInvitation"
    await p.call(accept, req(accept, invitation_id=invitation), p.tenancy.owner)
    return req(f"{SHARING}/LeaveVFolder", vfolder_id=folder_id), folder_id


# Only user-A1, as the party of the invitation, acts on it.
ONLY_THE_PARTY = {
    "superadmin": m.NOT_FOUND,
    "admin-A": m.NOT_FOUND,
    "admin-B": m.NOT_FOUND,
    "user-A1": m.OK,
    "user-A2": m.NOT_FOUND,
    "monitor": m.DENIED,
    "stranger": m.UNAUTH,
}
OWN_LISTING = {k: m.HIDDEN if v == m.NOT_FOUND else v for k, v in ONLY_THE_PARTY.items()} | {
    "monitor": m.HIDDEN
}
# Leaving a folder of domain B: admins over it may (a no-op for them); A's users find nothing.
LEAVE = {
    "superadmin": m.OK,
    "admin-A": m.NOT_FOUND,
    "admin-B": m.OK,
    "user-A1": m.OK,
    "user-A2": m.NOT_FOUND,
    "monitor": m.DENIED,
    "stranger": m.UNAUTH,
}


async def _rename(p: Platform) -> tuple[Any, str]:
    folder_id = await _folder_of(p, p.tenancy.owner)
    new = {"vfolder_id": folder_id, "name": f"r-{secrets.token_hex(4)}"}
    return req(f"{VFOLDERS}/UpdateVFolder", vfolder=new, update_mask={"paths": ["name"]}), ""


async def _restore(p: Platform) -> tuple[Any, str]:
    folder_id = await _folder_of(p, p.tenancy.owner)
    delete = f"{VFOLDERS}/DeleteVFolder"
    await p.call(delete, req(delete, vfolder_id=folder_id), p.tenancy.owner)
    return req(f"{VFOLDERS}/RestoreVFolder", vfolder_id=folder_id), ""


def _upload(folder_id: str, path: str, data: bytes) -> list[Any]:
    method = f"{FILES}/Upload"
    header = {"vfolder_id": folder_id, "path": path, "size": len(data)}
    return [req(method, header=header), req(method, chunk=data)]


def _on_files(method: str, **fields: Any):
    """A fresh folder of user-A1 holding the 5-byte file "f" (uploaded by its owner)."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        folder_id = await _folder_of(p, p.tenancy.owner)
        await p.call(f"{FILES}/Upload", _upload(folder_id, "f", b"hello"), p.tenancy.owner)
        if method.endswith("/Upload"):
            return _upload(folder_id, "g", b"bye"), folder_id
        return req(method, vfolder_id=folder_id, **fields), folder_id

    return prepare


async def _plain_request(method: str) -> tuple[Any, str]:
    return req(method), ""


async def _usage(p: Platform) -> tuple[Any, str]:
    folder_id = await _folder_of(p, p.tenancy.owner)
    return req(f"{VFOLDERS}/GetVFolderUsage", vfolder_id=folder_id), folder_id


def _on_scope(method: str, **fields: Any):
    """user-A1's own quota scope on the default volume."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        scope = f"user:{p.tenancy.owner.user_id}"
        return req(method, scope_id=scope, **fields), ""

    return prepare


# A scope's usage, and a task, are their owner's (and superadmins'); admins of the domain do
# not read them.
OWN_SCOPE = {
    "superadmin": m.OK,
    "admin-A": m.NOT_FOUND,
    "admin-B": m.NOT_FOUND,
    "user-A1": m.OK,
    "user-A2": m.NOT_FOUND,
    "monitor": m.NOT_FOUND,
    "stranger": m.UNAUTH,
}


async def _clone(p: Platform) -> tuple[Any, str]:
    folder_id = await _folder_of(p, p.tenancy.owner)
    method = f"{VFOLDERS}/CloneVFolder"
    return req(method, vfolder_id=folder_id, name=f"k-{secrets.token_hex(4)}"), ""


async def _task(p: Platform) -> tuple[Any, str]:
    """A clone task user-A1 started."""
    request, _ = await _clone(p)
    started = await p.call(f"{VFOLDERS}/CloneVFolder", request, p.tenancy.owner)
    return req(f"{VFOLDERS}/GetVFolderTask", task_id=started.task.task_id), ""


CASES: dict[str, Case] = {
    f"{VFOLDERS}/CloneVFolder": Case(m.CHANGE_OBJECT, _clone),
    f"{VFOLDERS}/GetVFolderTask": Case(OWN_SCOPE, _task),
    f"{VFOLDERS}/GetQuotaScope": Case(OWN_SCOPE, _on_scope(f"{VFOLDERS}/GetQuotaScope")),
    f"{VFOLDERS}/SetQuotaScope": Case(
        m.SUPER_ONLY, _on_scope(f"{VFOLDERS}/SetQuotaScope", limit_bytes=10 * 2**30)
    ),
    f"{VFOLDERS}/ListVolumes": Case(
        m.SIGNED_IN,
        lambda p: _plain_request(f"{VFOLDERS}/ListVolumes"),
    ),
    f"{VFOLDERS}/GetVFolderUsage": Case(m.READ_OBJECT, _usage),
    f"{FILES}/Upload": Case(m.CHANGE_OBJECT, _on_files(f"{FILES}/Upload")),
    f"{FILES}/Download": Case(m.READ_OBJECT, _on_files(f"{FILES}/Download", path="f")),
    f"{FILES}/GetUploadOffset": Case(
        m.CHANGE_OBJECT, _on_files(f"{FILES}/GetUploadOffset", path="g", size=9)
    ),
    f"{FILES}/CreateUploadSession": Case(
        m.CHANGE_OBJECT, _on_files(f"{FILES}/CreateUploadSession", path="g", size=9)
    ),
    f"{FILES}/CreateDownloadToken": Case(
        m.READ_OBJECT, _on_files(f"{FILES}/CreateDownloadToken", path="f")
    ),
    f"{VFOLDERS}/UpdateVFolder": Case(m.CHANGE_OBJECT, _rename),
    f"{VFOLDERS}/RestoreVFolder": Case(m.CHANGE_OBJECT, _restore),
    f"{SHARING}/InviteToVFolder": Case(m.CHANGE_OBJECT, _invite_a2),
    f"{SHARING}/ListVFolderInvitations": Case(
        OWN_LISTING, _listing, listed=lambda r: {i.invitation_id for i in r.invitations}
    ),
    f"{SHARING}/AcceptVFolderInvitation": Case(
        ONLY_THE_PARTY, _on_received(f"{SHARING}/AcceptVFolderInvitation")
    ),
    f"{SHARING}/RejectVFolderInvitation": Case(
        ONLY_THE_PARTY, _on_received(f"{SHARING}/RejectVFolderInvitation")
    ),
    f"{SHARING}/CancelVFolderInvitation": Case(ONLY_THE_PARTY, _cancel),
    f"{SHARING}/ShareVFolder": Case(m.CHANGE_OBJECT, _on_project_folder(f"{SHARING}/ShareVFolder")),
    f"{SHARING}/UnshareVFolder": Case(
        m.CHANGE_OBJECT, _on_project_folder(f"{SHARING}/UnshareVFolder")
    ),
    f"{SHARING}/LeaveVFolder": Case(LEAVE, _leave),
}
