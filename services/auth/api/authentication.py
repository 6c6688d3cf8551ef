"""`shipyard.auth.v1.AuthenticationService`: login, refresh, logout, password change."""

from __future__ import annotations

import grpc
from google.protobuf import timestamp_pb2
from shipyard.auth.v1 import authentication_service_pb2 as pb
from shipyard.auth.v1 import authentication_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.core.errors import ShipyardError
from libs.grpcutil.context import current_caller
from services.auth.api.audited import client_address, trace_id
from services.auth.domain.login import TOKEN_TYPE, IssuedTokens
from services.auth.service.audit import AuditLog
from services.auth.service.login import LoginService


class AuthenticationServicer(pb_grpc.AuthenticationServiceServicer):
    def __init__(self, login: LoginService, audit: AuditLog) -> None:
        self._login = login
        self._audit = audit

    @override
    async def Login(
        self, request: pb.LoginRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoginResponse:
        # Every attempt is audited, successful or not (who tried, from where, the outcome).
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        where = {
            "trace_id": trace_id(metadata),
            "client_address": client_address(metadata, context),
        }
        try:
            issued = await self._login.login(request.email, request.password)
        except ShipyardError as exc:
            await self._audit.record_login(
                email=request.email, status_code=exc.code, detail=exc.reason, **where
            )
            raise
        caller = issued.caller
        await self._audit.record_login(
            email=caller.email,
            user_id=caller.user_id,
            domain_name=caller.domain_name,
            access_key=caller.access_key,
            **where,
        )
        return pb.LoginResponse(tokens=_tokens(issued))

    @override
    async def RefreshToken(
        self, request: pb.RefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefreshTokenResponse:
        issued = await self._login.refresh(request.refresh_token)
        return pb.RefreshTokenResponse(tokens=_tokens(issued))

    @override
    async def Logout(
        self, request: pb.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> pb.LogoutResponse:
        await self._login.logout(request.refresh_token)
        return pb.LogoutResponse()

    @override
    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChangePasswordResponse:
        await self._login.change_password(
            current_caller(), request.current_password, request.new_password
        )
        return pb.ChangePasswordResponse()


def _tokens(issued: IssuedTokens) -> pb.Tokens:
    access_expiry = timestamp_pb2.Timestamp()
    access_expiry.FromDatetime(issued.access_token.expires_at)
    refresh_expiry = timestamp_pb2.Timestamp()
    refresh_expiry.FromDatetime(issued.refresh_expires_at)
    return pb.Tokens(
        access_token=issued.access_token.token,
        token_type=TOKEN_TYPE,
        access_token_expire_time=access_expiry,
        refresh_token=issued.refresh_token,
        refresh_token_expire_time=refresh_expiry,
        need_password_change=issued.need_password_change,
    )
