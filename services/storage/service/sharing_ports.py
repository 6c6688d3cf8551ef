"""What sharing needs: permission rows and invitations (unit of work), users by e-mail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from services.storage.domain.model import MountPermission
from services.storage.domain.sharing import Invitation, InvitationState, UserRef


class SharingRepository(Protocol):
    async def grants_for(
        self, user_id: str, vfolder_ids: Sequence[str]
    ) -> Mapping[str, MountPermission]:
        """The user's permission rows on these folders, by folder id."""
        ...

    async def grants_on(
        self, vfolder_id: str, user_ids: Sequence[str]
    ) -> Mapping[str, MountPermission]:
        """These users' permission rows on one folder, by user id."""
        ...

    async def set_grant(
        self, vfolder_id: str, user_id: str, permission: MountPermission, now: datetime
    ) -> None:
        """Insert or replace the user's permission row on the folder."""
        ...

    async def remove_grants(self, vfolder_id: str, user_ids: Sequence[str]) -> int:
        """Delete these users' rows on the folder; how many there were."""
        ...

    async def holds_name(self, user_id: str, name: str) -> bool:
        """Whether a ready folder of this name is the user's own or shared with them."""
        ...

    async def add_invitation(self, invitation: Invitation) -> Invitation:
        """Insert a pending invitation, or return the pending one already there."""
        ...

    async def get_invitation(self, invitation_id: str, *, for_update: bool = False) -> Invitation:
        """InvitationNotFound when there is none."""
        ...

    async def set_invitation_state(self, invitation_id: str, state: InvitationState) -> None: ...

    async def cancel_pending(self, vfolder_id: str, invitee_ids: Sequence[str]) -> None: ...

    async def pending_invitations(self, user_id: str, *, sent: bool) -> Sequence[Invitation]:
        """Pending invitations to the user (or from them), newest first."""
        ...


class UserDirectory(Protocol):
    async def by_emails(self, emails: Sequence[str]) -> Sequence[UserRef]:
        """Known users among these addresses (case-insensitive)."""
        ...
