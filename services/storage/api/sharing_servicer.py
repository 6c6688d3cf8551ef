"""VFolderSharingService: decode, call the sharing use cases with the caller, encode."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.storage.v1 import sharing_service_pb2 as pb
from shipyard.storage.v1 import sharing_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.storage.api.convert import PERMISSION_TO_PB, permission_from_pb
from services.storage.domain.model import MountPermission
from services.storage.domain.sharing import Invitation
from services.storage.service.sharing import VFolderSharing


def invitation_to_pb(invitation: Invitation) -> pb.VFolderInvitation:
    created = Timestamp()
    created.FromDatetime(invitation.created_at)
    return pb.VFolderInvitation(
        invitation_id=invitation.id,
        vfolder_id=invitation.vfolder_id,
        vfolder_name=invitation.vfolder_name,
        inviter_email=invitation.inviter_email,
        invitee_email=invitation.invitee_email,
        permission=PERMISSION_TO_PB[invitation.permission],
        state=invitation.state.value,
        create_time=created,
    )


class SharingServicer(pb_grpc.VFolderSharingServiceServicer):
    def __init__(self, sharing: VFolderSharing) -> None:
        self._sharing = sharing

    @override
    async def InviteToVFolder(
        self, request: pb.InviteToVFolderRequest, context: Any
    ) -> pb.InviteToVFolderResponse:
        made = await self._sharing.invite(
            current_caller(),
            request.vfolder_id,
            list(request.emails),
            permission_from_pb(request.permission, MountPermission.READ_ONLY),
        )
        return pb.InviteToVFolderResponse(invitations=[invitation_to_pb(i) for i in made])

    @override
    async def ListVFolderInvitations(
        self, request: pb.ListVFolderInvitationsRequest, context: Any
    ) -> pb.ListVFolderInvitationsResponse:
        found = await self._sharing.list_invitations(current_caller(), sent=request.sent)
        return pb.ListVFolderInvitationsResponse(invitations=[invitation_to_pb(i) for i in found])

    @override
    async def AcceptVFolderInvitation(
        self, request: pb.AcceptVFolderInvitationRequest, context: Any
    ) -> pb.AcceptVFolderInvitationResponse:
        done = await self._sharing.accept(current_caller(), request.invitation_id)
        return pb.AcceptVFolderInvitationResponse(invitation=invitation_to_pb(done))

    @override
    async def RejectVFolderInvitation(
        self, request: pb.RejectVFolderInvitationRequest, context: Any
    ) -> pb.RejectVFolderInvitationResponse:
        done = await self._sharing.reject(current_caller(), request.invitation_id)
        return pb.RejectVFolderInvitationResponse(invitation=invitation_to_pb(done))

    @override
    async def CancelVFolderInvitation(
        self, request: pb.CancelVFolderInvitationRequest, context: Any
    ) -> pb.CancelVFolderInvitationResponse:
        done = await self._sharing.cancel(current_caller(), request.invitation_id)
        return pb.CancelVFolderInvitationResponse(invitation=invitation_to_pb(done))

    @override
    async def ShareVFolder(
        self, request: pb.ShareVFolderRequest, context: Any
    ) -> pb.ShareVFolderResponse:
        await self._sharing.share(
            current_caller(),
            request.vfolder_id,
            list(request.emails),
            permission_from_pb(request.permission),
        )
        return pb.ShareVFolderResponse()

    @override
    async def UnshareVFolder(
        self, request: pb.UnshareVFolderRequest, context: Any
    ) -> pb.UnshareVFolderResponse:
        await self._sharing.unshare(current_caller(), request.vfolder_id, list(request.emails))
        return pb.UnshareVFolderResponse()

    @override
    async def LeaveVFolder(
        self, request: pb.LeaveVFolderRequest, context: Any
    ) -> pb.LeaveVFolderResponse:
        await self._sharing.leave(current_caller(), request.vfolder_id)
        return pb.LeaveVFolderResponse()
