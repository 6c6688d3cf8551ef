"""Sharing folders: invitations to personal folders, direct shares of project folders, leaving.

Users are named by e-mail and must be active users of the folder's domain (no sharing across
tenants). A folder the caller cannot see is VFOLDER_NOT_FOUND; one they see but do not own (or
administer) is PERMISSION_DENIED for the owner's acts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from libs.core.errors import PermissionDenied
from libs.core.identity import Caller
from libs.core.ids import new_id
from services.storage.domain import sharing_errors as se
from services.storage.domain.access import canonical_id, owner_id_of
from services.storage.domain.errors import VFolderNotFound
from services.storage.domain.model import MountPermission, VFolder, VFolderStatus
from services.storage.domain.sharing import (
    Invitation,
    InvitationState,
    UserRef,
    effective_permission,
    manages,
)
from services.storage.service.ports import Clock, UnitOfWork, UnitOfWorkFactory
from services.storage.service.sharing_ports import UserDirectory


def _utc_now() -> datetime:
    return datetime.now(UTC)


class VFolderSharing:
    def __init__(
        self, *, uow: UnitOfWorkFactory, users: UserDirectory, clock: Clock = _utc_now
    ) -> None:
        self._uow = uow
        self._users = users
        self._clock = clock

    async def invite(
        self, caller: Caller, vfolder_id: str, emails: Sequence[str], permission: MountPermission
    ) -> list[Invitation]:
        invitees = await self._domain_users(caller, emails)
        async with self._uow() as uow:
            folder = await _managed(uow, caller, vfolder_id)
            if folder.project_id:
                raise se.NotShareable("project folders are shared with ShareVFolder, not invited")
            if folder.name.startswith("."):
                raise se.NotShareable(f"{folder.name!r} is a private dot-folder")
            if any(u.user_id == folder.owner_user_id for u in invitees):
                raise se.NotShareable("the owner cannot be invited to their own folder")
            granted = await uow.sharing.grants_on(folder.id, [u.user_id for u in invitees])
            if granted:
                shared = [u.email for u in invitees if u.user_id in granted]
                raise se.AlreadyHasAccess(
                    f"already shared with {','.join(shared)}", metadata={"emails": ",".join(shared)}
                )
            now, made = self._clock(), []
            for user in invitees:
                made.append(
                    await uow.sharing.add_invitation(
                        Invitation(
                            id=new_id(),
                            vfolder_id=folder.id,
                            vfolder_name=folder.name,
                            inviter_user_id=owner_id_of(caller),
                            inviter_email=caller.email,
                            invitee_user_id=user.user_id,
                            invitee_email=user.email,
                            permission=permission,
                            state=InvitationState.PENDING,
                            created_at=now,
                        )
                    )
                )
            await uow.commit()
        return made

    async def list_invitations(self, caller: Caller, *, sent: bool) -> Sequence[Invitation]:
        async with self._uow() as uow:
            return await uow.sharing.pending_invitations(owner_id_of(caller), sent=sent)

    async def accept(self, caller: Caller, invitation_id: str) -> Invitation:
        me = owner_id_of(caller)
        async with self._uow() as uow:
            invitation = await _invitation(uow, invitation_id, me, as_invitee=True)
            if invitation.state is InvitationState.ACCEPTED:
                return invitation  # a retried accept
            _pending(invitation)
            if await uow.sharing.holds_name(me, invitation.vfolder_name):
                raise se.FolderNameClash(
                    f"you already have a folder named {invitation.vfolder_name!r}",
                    metadata={"name": invitation.vfolder_name},
                )
            await uow.sharing.set_grant(
                invitation.vfolder_id, me, invitation.permission, self._clock()
            )
            await uow.sharing.set_invitation_state(invitation.id, InvitationState.ACCEPTED)
            await uow.commit()
        return _with_state(invitation, InvitationState.ACCEPTED)

    async def reject(self, caller: Caller, invitation_id: str) -> Invitation:
        return await self._close(caller, invitation_id, InvitationState.REJECTED, as_invitee=True)

    async def cancel(self, caller: Caller, invitation_id: str) -> Invitation:
        return await self._close(caller, invitation_id, InvitationState.CANCELED, as_invitee=False)

    async def share(
        self, caller: Caller, vfolder_id: str, emails: Sequence[str], permission: MountPermission
    ) -> None:
        users = await self._domain_users(caller, emails)
        async with self._uow() as uow:
            folder = await _managed(uow, caller, vfolder_id)
            if not folder.project_id:
                raise se.NotShareable("personal folders are shared by invitation")
            outside = [u.email for u in users if folder.project_id not in u.project_ids]
            if outside:
                raise se.UsersNotFound.emails(outside, "not members of the folder's project")
            now = self._clock()
            for user in users:
                await uow.sharing.set_grant(folder.id, user.user_id, permission, now)
            await uow.commit()

    async def unshare(self, caller: Caller, vfolder_id: str, emails: Sequence[str]) -> None:
        users = await self._domain_users(caller, emails)
        async with self._uow() as uow:
            folder = await _managed(uow, caller, vfolder_id)
            ids = [u.user_id for u in users]
            await uow.sharing.remove_grants(folder.id, ids)
            await uow.sharing.cancel_pending(folder.id, ids)
            await uow.commit()

    async def leave(self, caller: Caller, vfolder_id: str) -> None:
        me = owner_id_of(caller)
        async with self._uow() as uow:
            folder = await _folder(uow, vfolder_id)
            grants = await uow.sharing.grants_for(me, [folder.id])
            if effective_permission(caller, folder, grants.get(folder.id)) is None:
                raise VFolderNotFound(f"vfolder {vfolder_id} not found")
            if folder.owner_user_id == me:
                raise se.NotShareable("you own this folder: delete it instead of leaving it")
            if folder.project_id:
                raise se.NotShareable("project folders are left by leaving the project")
            await uow.sharing.remove_grants(folder.id, [me])
            await uow.commit()

    async def _close(
        self, caller: Caller, invitation_id: str, state: InvitationState, *, as_invitee: bool
    ) -> Invitation:
        async with self._uow() as uow:
            invitation = await _invitation(uow, invitation_id, owner_id_of(caller), as_invitee)
            if invitation.state is state:
                return invitation  # a retried call
            _pending(invitation)
            await uow.sharing.set_invitation_state(invitation.id, state)
            await uow.commit()
        return _with_state(invitation, state)

    async def _domain_users(self, caller: Caller, emails: Sequence[str]) -> list[UserRef]:
        """Active users of the caller's domain with these addresses; USERS_NOT_FOUND otherwise
        (users of other domains are as unknown as missing ones)."""
        found = {
            u.email.lower(): u
            for u in await self._users.by_emails(emails)
            if u.active and (caller.is_superadmin or u.domain_name == caller.domain_name)
        }
        missing = [e for e in emails if e.lower() not in found]
        if missing:
            raise se.UsersNotFound.emails(missing, "no active user with these addresses")
        return [found[e.lower()] for e in emails]


async def _folder(uow: UnitOfWork, vfolder_id: str) -> VFolder:
    folder_id = canonical_id(vfolder_id)
    missing = VFolderNotFound(f"vfolder {vfolder_id} not found")
    if folder_id is None:
        raise missing
    try:
        folder = await uow.vfolders.get(folder_id, for_update=True)
    except VFolderNotFound:
        raise missing from None
    if folder.status in (VFolderStatus.DELETING, VFolderStatus.TRASHED):
        raise missing
    return folder


async def _managed(uow: UnitOfWork, caller: Caller, vfolder_id: str) -> VFolder:
    """The folder, when the caller owns or administers it (the only ones who share it)."""
    folder = await _folder(uow, vfolder_id)
    me = canonical_id(caller.user_id) or ""
    grants = await uow.sharing.grants_for(me, [folder.id]) if me else {}
    if effective_permission(caller, folder, grants.get(folder.id)) is None:
        raise VFolderNotFound(f"vfolder {vfolder_id} not found")
    if not manages(caller, folder, grants.get(folder.id)):
        raise PermissionDenied("only the folder's owner or an admin shares it")
    return folder


async def _invitation(uow: UnitOfWork, invitation_id: str, me: str, as_invitee: bool) -> Invitation:
    missing = se.InvitationNotFound(f"invitation {invitation_id} not found")
    if canonical_id(invitation_id) is None:
        raise missing
    try:
        invitation = await uow.sharing.get_invitation(invitation_id, for_update=True)
    except se.InvitationNotFound:
        raise missing from None
    party = invitation.invitee_user_id if as_invitee else invitation.inviter_user_id
    if party != me:
        raise missing  # strangers learn nothing about others' invitations
    return invitation


def _pending(invitation: Invitation) -> None:
    if invitation.state is not InvitationState.PENDING:
        raise se.InvitationNotPending(f"invitation {invitation.id} is {invitation.state.value}")


def _with_state(invitation: Invitation, state: InvitationState) -> Invitation:
    return replace(invitation, state=state)
