"""The running auth server: ext_authz Check and IdentityService over real gRPC and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import grpc
import pytest
from envoy_ext_authz.v3 import external_auth_pb2 as authz
from envoy_ext_authz.v3 import external_auth_pb2_grpc as authz_grpc
from shipyard.auth.v1 import identity_service_pb2 as pb
from shipyard.auth.v1 import identity_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import identity_pb2
from sqlalchemy import text

from libs.core.identity import (
    HEADER_ACCESS_KEY,
    HEADER_EMAIL,
    HEADER_INTERNAL_TOKEN,
    HEADER_ROLE,
    HEADER_USER_ID,
    Caller,
    Role,
    caller_to_headers,
)
from libs.core.signing import authorization_header, sign
from libs.db.engine import create_engine
from services.auth.app import AuthServer

pytestmark = pytest.mark.integration

EDGE_HOST = "127.0.0.1:8090"


def signed_check(access_key: str, secret_key: str, *, path: str = "/v1/identity"):
    now = datetime.now(UTC)
    signature = sign(
        secret_key=secret_key,
        method="GET",
        rel_url=path,
        date=now,
        host=EDGE_HOST,
        content_type="application/json",
        api_version="v7.20230615",
    )
    headers = {
        "authorization": authorization_header(access_key, signature),
        "date": now.isoformat(),
        "content-type": "application/json",
        "x-backendai-version": "v7.20230615",
        "host": EDGE_HOST,
    }
    http = authz.AttributeContext.HttpRequest(
        method="GET", path=path, host=EDGE_HOST, headers=headers, protocol="HTTP/1.1"
    )
    return authz.CheckRequest(
        attributes=authz.AttributeContext(request=authz.AttributeContext.Request(http=http))
    )


async def check(app: AuthServer, request: authz.CheckRequest) -> authz.CheckResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        return await authz_grpc.AuthorizationStub(channel).Check(request, timeout=5)


async def test_signed_request_is_allowed_with_identity_headers(auth_server, unique_email):
    kp = auth_server.keypair
    response = await check(auth_server, signed_check(kp.access_key, kp.secret_key))
    assert response.status.code == 0
    headers = {h.header.key: h.header.value for h in response.ok_response.headers}
    assert headers[HEADER_ACCESS_KEY] == kp.access_key
    assert headers[HEADER_ROLE] == "superadmin"
    assert headers[HEADER_EMAIL] == unique_email
    assert headers[HEADER_USER_ID]
    assert "authorization" in response.ok_response.headers_to_remove


async def test_bad_signature_is_denied_with_401_json(auth_server):
    kp = auth_server.keypair
    response = await check(auth_server, signed_check(kp.access_key, "w" * 40))
    assert response.status.code == 16
    assert response.denied_response.status.code == 401
    body = json.loads(response.denied_response.body)
    assert body["code"] == 16
    assert body["details"][0]["reason"] == "INVALID_SIGNATURE"
    assert body["details"][0]["domain"] == "auth.shipyard"


async def test_unknown_key_is_denied(auth_server):
    response = await check(auth_server, signed_check("AKNOSUCHKEY000000000", "w" * 40))
    assert json.loads(response.denied_response.body)["details"][0]["reason"] == (
        "UNKNOWN_ACCESS_KEY"
    )


async def test_use_is_recorded_once_on_stop_not_per_request(auth_server, migrated_url):
    kp = auth_server.keypair
    for _ in range(3):
        assert (await check(auth_server, signed_check(kp.access_key, kp.secret_key))).ok_response
    engine = create_engine(migrated_url, pool_size=1)
    query = text("SELECT last_used_at FROM auth.keypairs WHERE access_key = :k")
    try:
        async with engine.connect() as conn:
            before = (await conn.execute(query, {"k": kp.access_key})).scalar_one()
        await auth_server.usage.stop()  # flushes what is pending
        async with engine.connect() as conn:
            after = (await conn.execute(query, {"k": kp.access_key})).scalar_one()
    finally:
        await engine.dispose()
    assert before is None
    assert after is not None


async def test_get_current_identity_trusts_headers_with_the_internal_token(
    auth_server, internal_token, unique_email
):
    kp = auth_server.keypair
    allowed = await check(auth_server, signed_check(kp.access_key, kp.secret_key))
    metadata = [(h.header.key, h.header.value) for h in allowed.ok_response.headers]
    metadata.append((HEADER_INTERNAL_TOKEN, internal_token))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{auth_server.port}") as channel:
        stub = pb_grpc.IdentityServiceStub(channel)
        response = await stub.GetCurrentIdentity(
            pb.GetCurrentIdentityRequest(), metadata=metadata, timeout=5
        )
    identity = response.identity
    assert identity.access_key == kp.access_key
    assert identity.role == identity_pb2.ROLE_SUPERADMIN
    assert identity.email == unique_email
    assert identity.domain_name == "default"
    assert len(identity.project_ids) == 1


async def test_get_current_identity_without_the_token_is_unauthenticated(auth_server):
    forged = caller_to_headers(Caller(user_id="u", role=Role.SUPERADMIN, email="x@y"))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{auth_server.port}") as channel:
        stub = pb_grpc.IdentityServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetCurrentIdentity(
                pb.GetCurrentIdentityRequest(), metadata=list(forged.items()), timeout=5
            )
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
