"""SharingRepository on PostgreSQL: permission rows and invitations, inside the unit of work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import RowMapping, delete, exists, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.storage.adapters.tables import vfolder_invitations, vfolder_permissions, vfolders
from services.storage.domain.model import MountPermission, VFolderStatus
from services.storage.domain.sharing import Invitation, InvitationState
from services.storage.domain.sharing_errors import InvitationNotFound

_inv, _perm = vfolder_invitations, vfolder_permissions


def _to_invitation(row: RowMapping) -> Invitation:
    return Invitation(
        id=str(row["id"]),
        vfolder_id=str(row["vfolder_id"]),
        vfolder_name=row["name"],
        inviter_user_id=str(row["inviter_user_id"]),
        inviter_email=row["inviter_email"],
        invitee_user_id=str(row["invitee_user_id"]),
        invitee_email=row["invitee_email"],
        permission=MountPermission(row["permission"]),
        state=InvitationState(row["state"]),
        created_at=row["created_at"],
    )


_INVITATION_COLUMNS = (*_inv.c, vfolders.c.name)


class SqlSharingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def grants_for(
        self, user_id: str, vfolder_ids: Sequence[str]
    ) -> Mapping[str, MountPermission]:
        if not vfolder_ids:
            return {}
        stmt = select(_perm.c.vfolder_id, _perm.c.permission).where(
            _perm.c.user_id == user_id, _perm.c.vfolder_id.in_(list(vfolder_ids))
        )
        rows = await self._session.execute(stmt)
        return {str(f): MountPermission(p) for f, p in rows}

    async def grants_on(
        self, vfolder_id: str, user_ids: Sequence[str]
    ) -> Mapping[str, MountPermission]:
        if not user_ids:
            return {}
        stmt = select(_perm.c.user_id, _perm.c.permission).where(
            _perm.c.vfolder_id == vfolder_id, _perm.c.user_id.in_(list(user_ids))
        )
        rows = await self._session.execute(stmt)
        return {str(u): MountPermission(p) for u, p in rows}

    async def set_grant(
        self, vfolder_id: str, user_id: str, permission: MountPermission, now: datetime
    ) -> None:
        stmt = insert(_perm).values(
            vfolder_id=vfolder_id, user_id=user_id, permission=permission.value, created_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[_perm.c.vfolder_id, _perm.c.user_id],
            set_={"permission": stmt.excluded.permission},
        )
        await self._session.execute(stmt)

    async def remove_grants(self, vfolder_id: str, user_ids: Sequence[str]) -> int:
        stmt = delete(_perm).where(
            _perm.c.vfolder_id == vfolder_id, _perm.c.user_id.in_(list(user_ids))
        )
        result = await self._session.execute(stmt)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def holds_name(self, user_id: str, name: str) -> bool:
        shared = exists().where(_perm.c.vfolder_id == vfolders.c.id, _perm.c.user_id == user_id)
        stmt = select(
            exists().where(
                vfolders.c.name == name,
                vfolders.c.status == VFolderStatus.READY.value,
                or_(vfolders.c.owner_user_id == user_id, shared),
            )
        )
        return bool((await self._session.execute(stmt)).scalar())

    async def add_invitation(self, invitation: Invitation) -> Invitation:
        stmt = (
            insert(_inv)
            .values(
                id=invitation.id,
                vfolder_id=invitation.vfolder_id,
                inviter_user_id=invitation.inviter_user_id,
                inviter_email=invitation.inviter_email,
                invitee_user_id=invitation.invitee_user_id,
                invitee_email=invitation.invitee_email,
                permission=invitation.permission.value,
                state=invitation.state.value,
                created_at=invitation.created_at,
            )
            .on_conflict_do_nothing(
                index_elements=[_inv.c.vfolder_id, _inv.c.invitee_user_id],
                # A literal, as in the index: a bound parameter would not match its predicate.
                index_where=text("state = 'pending'"),
            )
            .returning(_inv.c.id)
        )
        if (await self._session.execute(stmt)).scalar_one_or_none() is not None:
            return invitation
        pending = select(*_INVITATION_COLUMNS).join(vfolders, vfolders.c.id == _inv.c.vfolder_id)
        pending = pending.where(
            _inv.c.vfolder_id == invitation.vfolder_id,
            _inv.c.invitee_user_id == invitation.invitee_user_id,
            _inv.c.state == InvitationState.PENDING.value,
        )
        return _to_invitation((await self._session.execute(pending)).mappings().one())

    async def get_invitation(self, invitation_id: str, *, for_update: bool = False) -> Invitation:
        stmt = select(*_INVITATION_COLUMNS).join(vfolders, vfolders.c.id == _inv.c.vfolder_id)
        stmt = stmt.where(_inv.c.id == invitation_id)
        if for_update:
            stmt = stmt.with_for_update(of=_inv)
        row = (await self._session.execute(stmt)).mappings().one_or_none()
        if row is None:
            raise InvitationNotFound(f"invitation {invitation_id} not found")
        return _to_invitation(row)

    async def set_invitation_state(self, invitation_id: str, state: InvitationState) -> None:
        stmt = update(_inv).where(_inv.c.id == invitation_id).values(state=state.value)
        await self._session.execute(stmt)

    async def cancel_pending(self, vfolder_id: str, invitee_ids: Sequence[str]) -> None:
        stmt = (
            update(_inv)
            .where(
                _inv.c.vfolder_id == vfolder_id,
                _inv.c.invitee_user_id.in_(list(invitee_ids)),
                _inv.c.state == InvitationState.PENDING.value,
            )
            .values(state=InvitationState.CANCELED.value)
        )
        await self._session.execute(stmt)

    async def pending_invitations(self, user_id: str, *, sent: bool) -> Sequence[Invitation]:
        party = _inv.c.inviter_user_id if sent else _inv.c.invitee_user_id
        stmt = (
            select(*_INVITATION_COLUMNS)
            .join(vfolders, vfolders.c.id == _inv.c.vfolder_id)
            .where(
                party == user_id,
                _inv.c.state == InvitationState.PENDING.value,
                vfolders.c.status == VFolderStatus.READY.value,
            )
            .order_by(_inv.c.created_at.desc(), _inv.c.id)
            .limit(1000)
        )
        return [_to_invitation(r) for r in (await self._session.execute(stmt)).mappings()]
