"""`UserService` and `KeypairService`."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from shipyard.auth.v1 import keypair_service_pb2 as kpb
from shipyard.auth.v1 import keypair_service_pb2_grpc as kpb_grpc
from shipyard.auth.v1 import user_service_pb2 as upb
from shipyard.auth.v1 import user_service_pb2_grpc as upb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.auth.api import grant_convert as gv
from services.auth.api import tenancy_convert as cv
from services.auth.api.audited import audited, note
from services.auth.domain.paging import page_request
from services.auth.service.audit import AuditLog
from services.auth.service.keypairs import Keypairs
from services.auth.service.ports import Clock
from services.auth.service.users import Users

Ctx: TypeAlias = grpc.aio.ServicerContext


class UserServicer(upb_grpc.UserServiceServicer):
    def __init__(self, users: Users, audit: AuditLog, clock: Clock) -> None:
        self.users = users
        self.audit = audit
        self.clock = clock

    @override
    @audited("user.create", "user", lambda r: r.user.email)
    async def CreateUser(
        self, request: upb.CreateUserRequest, context: Ctx
    ) -> upb.CreateUserResponse:
        note(domain_name=request.user.domain_name)
        created = await self.users.create(
            current_caller(),
            cv.user_of(request.user),
            request.password,
            tuple(p.lower() for p in request.project_ids),
        )
        note(target_id=created.user_id, detail=f"role {created.role}")
        return upb.CreateUserResponse(user=cv.user_pb(created))

    @override
    async def GetUser(self, request: upb.GetUserRequest, context: Ctx) -> upb.GetUserResponse:
        found = await self.users.get(current_caller(), request.user_id)
        return upb.GetUserResponse(user=cv.user_pb(found))

    @override
    async def ListUsers(self, request: upb.ListUsersRequest, context: Ctx) -> upb.ListUsersResponse:
        status = cv.STATUS_OF.get(request.status)
        page = await self.users.list(
            current_caller(),
            page_request(request.page_size, request.page_token),
            domain_name=request.domain_name,
            role=cv.role_of(request.role).value if request.role else "",
            status=status.value if status else "",
            email_contains=request.email_contains,
            project_id=request.project_id,
            show_deleted=request.show_deleted,
        )
        return upb.ListUsersResponse(
            users=[cv.user_pb(u) for u in page.items], next_page_token=page.next_token
        )

    @override
    @audited("user.update", "user", lambda r: r.user.user_id)
    async def UpdateUser(
        self, request: upb.UpdateUserRequest, context: Ctx
    ) -> upb.UpdateUserResponse:
        note(detail=",".join(request.update_mask.paths))
        user, ended = await self.users.update(
            current_caller(),
            request.user.user_id,
            cv.user_changes(request),
            end_sessions=request.end_sessions,
        )
        note(domain_name=user.domain_name)
        return upb.UpdateUserResponse(
            user=cv.user_pb(user),
            sessions_ended=ended.sessions_ended,
            ended_session_count=ended.count,
        )

    @override
    @audited("user.delete", "user", lambda r: r.user_id)
    async def DeleteUser(
        self, request: upb.DeleteUserRequest, context: Ctx
    ) -> upb.DeleteUserResponse:
        user, ended = await self.users.delete(
            current_caller(), request.user_id, now=self.clock(), end_sessions=request.end_sessions
        )
        note(domain_name=user.domain_name)
        return upb.DeleteUserResponse(
            user=cv.user_pb(user),
            sessions_ended=ended.sessions_ended,
            ended_session_count=ended.count,
        )


class KeypairServicer(kpb_grpc.KeypairServiceServicer):
    def __init__(self, keypairs: Keypairs, audit: AuditLog, clock: Clock) -> None:
        self.keypairs = keypairs
        self.audit = audit
        self.clock = clock

    @override
    @audited("keypair.create", "keypair", lambda r: r.user_id)
    async def CreateKeypair(
        self, request: kpb.CreateKeypairRequest, context: Ctx
    ) -> kpb.CreateKeypairResponse:
        wanted = gv.keypair_of(request.user_id.lower(), request.keypair)
        created, secret = await self.keypairs.create(current_caller(), wanted)
        note(target_id=created.access_key, domain_name=created.domain_name)
        return kpb.CreateKeypairResponse(keypair=gv.keypair_pb(created), secret_key=secret)

    @override
    async def GetKeypair(
        self, request: kpb.GetKeypairRequest, context: Ctx
    ) -> kpb.GetKeypairResponse:
        found = await self.keypairs.get(
            current_caller(), request.user_id.lower(), request.access_key
        )
        return kpb.GetKeypairResponse(keypair=gv.keypair_pb(found))

    @override
    async def ListKeypairs(
        self, request: kpb.ListKeypairsRequest, context: Ctx
    ) -> kpb.ListKeypairsResponse:
        page = await self.keypairs.list(
            current_caller(),
            request.user_id.lower(),
            page_request(request.page_size, request.page_token),
            is_active=request.is_active if request.HasField("is_active") else None,
            resource_policy=request.resource_policy,
            show_revoked=request.show_revoked,
        )
        return kpb.ListKeypairsResponse(
            keypairs=[gv.keypair_pb(k) for k in page.items], next_page_token=page.next_token
        )

    @override
    @audited("keypair.update", "keypair", lambda r: r.keypair.access_key)
    async def UpdateKeypair(
        self, request: kpb.UpdateKeypairRequest, context: Ctx
    ) -> kpb.UpdateKeypairResponse:
        note(detail=",".join(request.update_mask.paths))
        keypair, ended = await self.keypairs.update(
            current_caller(),
            request.keypair.user_id.lower(),
            request.keypair.access_key,
            gv.keypair_changes(request.keypair, request.update_mask),
            end_sessions=request.end_sessions,
        )
        note(domain_name=keypair.domain_name)
        return kpb.UpdateKeypairResponse(
            keypair=gv.keypair_pb(keypair),
            sessions_ended=ended.sessions_ended,
            ended_session_count=ended.count,
        )

    @override
    @audited("keypair.delete", "keypair", lambda r: r.access_key)
    async def DeleteKeypair(
        self, request: kpb.DeleteKeypairRequest, context: Ctx
    ) -> kpb.DeleteKeypairResponse:
        keypair, ended = await self.keypairs.revoke(
            current_caller(),
            request.user_id.lower(),
            request.access_key,
            now=self.clock(),
            end_sessions=request.end_sessions,
        )
        note(domain_name=keypair.domain_name)
        return kpb.DeleteKeypairResponse(
            keypair=gv.keypair_pb(keypair),
            sessions_ended=ended.sessions_ended,
            ended_session_count=ended.count,
        )
