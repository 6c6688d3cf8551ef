"""`shipyard.auth.v1.AuthenticationService`: login, refresh, logout, password change."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf import timestamp_pb2
from shipyard.auth.v1 import authentication_service_pb2 as pb
from shipyard.auth.v1 import authentication_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.core.errors import ShipyardError
from libs.core.identity import LOGIN_COOKIE
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
        if request.set_cookie:
            await _set_login_cookie(context, issued, metadata)
        return pb.LoginResponse(tokens=_tokens(issued))

    @override
    async def RefreshToken(
        self, request: pb.RefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefreshTokenResponse:
        issued = await self._login.refresh(request.refresh_token)
        if request.set_cookie:
            metadata = {
                k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)
            }
            await _set_login_cookie(context, issued, metadata)
        return pb.RefreshTokenResponse(tokens=_tokens(issued))

    @override
    async def Logout(
        self, request: pb.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> pb.LogoutResponse:
        await self._login.logout(request.refresh_token)
        # Whatever the caller is (browser or not): a login cookie it may hold dies here too.
        await context.send_initial_metadata((("set-cookie", login_cookie("", 0, secure=False)),))
        return pb.LogoutResponse()

    @override
    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChangePasswordResponse:
        await self._login.change_password(
            current_caller(), request.current_password, request.new_password
        )
        return pb.ChangePasswordResponse()


def login_cookie(token: str, max_age: int, *, secure: bool) -> str:
    """The browser's bearer credential: never readable by scripts, never sent cross-site."""
    cookie = f"{LOGIN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    return cookie + "; Secure" if secure else cookie


async def _set_login_cookie(
    context: grpc.aio.ServicerContext, issued: IssuedTokens, metadata: dict[str, str]
) -> None:
    # The transcoder turns initial metadata into HTTP response headers.
    left = issued.access_token.expires_at - datetime.now(UTC)
    secure = metadata.get("x-forwarded-proto") == "https"
    cookie = login_cookie(
        issued.access_token.token, max(int(left.total_seconds()), 1), secure=secure
    )
    await context.send_initial_metadata((("set-cookie", cookie),))


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
