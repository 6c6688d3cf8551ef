"""The shared interceptor over a real grpc.aio server: statuses, details, validation, identity."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.registry.v1 import session_service_pb2_grpc as pb_grpc

from libs.core.errors import NotFound
from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, Role, caller_to_headers
from libs.grpcutil.context import current_caller
from libs.grpcutil.server import Registration
from tests.integration.libs.served import TOKEN, serving


class Servicer(pb_grpc.SessionServiceServicer):
    async def GetSession(self, request, context):
        caller = current_caller()
        if request.session_id.endswith("0"):
            raise NotFound("no such session", metadata={"session_id": request.session_id})
        if request.session_id.endswith("1"):
            raise RuntimeError("secret internal detail")
        return pb.GetSessionResponse(session=pb.Session(session_id=caller.user_id))


@pytest.fixture
async def stub() -> AsyncIterator[pb_grpc.SessionServiceStub]:
    registration = Registration(
        pb_grpc.add_SessionServiceServicer_to_server,
        Servicer(),
        "shipyard.registry.v1.SessionService",
    )
    async with serving(registration) as channel:
        yield pb_grpc.SessionServiceStub(channel)


def _md(user: str = "u-1") -> list[tuple[str, str]]:
    headers = caller_to_headers(Caller(user_id=user, role=Role.USER))
    return [(HEADER_INTERNAL_TOKEN, TOKEN), *headers.items()]


def _details(err: grpc.aio.AioRpcError) -> list[object]:
    status = rpc_status.from_call(err)
    assert status is not None
    found = []
    for d in status.details:
        for cls in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
            msg = cls()
            if d.Unpack(msg):
                found.append(msg)
    return found


async def test_domain_error_becomes_status_with_error_info(stub) -> None:
    sid = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetSession(pb.GetSessionRequest(session_id=sid), metadata=_md())
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    [info] = _details(err.value)
    assert info.reason == "NOT_FOUND" and info.domain == "test.shipyard"
    assert info.metadata["session_id"] == sid


async def test_invalid_input_names_the_field(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetSession(pb.GetSessionRequest(session_id="nope"), metadata=_md())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = [d for d in _details(err.value) if isinstance(d, error_details_pb2.BadRequest)]
    assert bad[0].field_violations[0].field == "session_id"


async def test_unexpected_error_does_not_leak(stub) -> None:
    sid = "00000000-0000-4000-8000-000000000001"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetSession(pb.GetSessionRequest(session_id=sid), metadata=_md())
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (err.value.details() or "")


async def test_identity_headers_need_the_internal_token(stub) -> None:
    sid = "00000000-0000-4000-8000-000000000002"
    ok = await stub.GetSession(pb.GetSessionRequest(session_id=sid), metadata=_md("alice"))
    assert ok.session.session_id == "alice"
    spoofed = [(k, v) for k, v in _md("mallory") if k != HEADER_INTERNAL_TOKEN]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetSession(pb.GetSessionRequest(session_id=sid), metadata=spoofed)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_token_alone_is_not_a_system_caller(stub) -> None:
    # A request the edge let through without a user must never count as another service.
    sid = "00000000-0000-4000-8000-000000000002"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetSession(
            pb.GetSessionRequest(session_id=sid), metadata=[(HEADER_INTERNAL_TOKEN, TOKEN)]
        )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
