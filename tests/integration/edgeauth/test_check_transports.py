"""The edge asks auth over HTTP/1.1 by default and over gRPC when told to (EDGE_AUTHZ); either
way a signed caller gets its own identity, never one it sent, and an unreachable auth is a 503.
A replica that stops answering leaves the HTTP Check's rotation through its health checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from cli.client import ApiError
from gateway.config import AUTHZ_CLUSTER
from libs.core.identity import HEADER_ROLE, HEADER_USER_ID
from tests.integration.edgeauth.stack import Stack, edge_stack

pytestmark = pytest.mark.integration


@pytest.fixture(params=["http", "grpc"])
async def stack(request, auth_db, redis_url, tmp_path) -> AsyncIterator[Stack]:
    async with edge_stack(auth_db, redis_url, tmp_path, edge={"authz": request.param}) as s:
        yield s


async def _checks_sent_over_http(stack: Stack) -> int:
    async with httpx.AsyncClient() as admin:
        stats = (await admin.get(f"{stack.edge.admin_url}/stats?format=json")).json()["stats"]
    name = f"cluster.{AUTHZ_CLUSTER}.upstream_rq_total"
    return int(next((s["value"] for s in stats if s.get("name") == name), 0))


async def test_a_signed_caller_gets_its_own_identity_not_the_one_it_sent(stack, request):
    client = stack.client()
    spoofed = {HEADER_USER_ID: "00000000-0000-0000-0000-000000000000", HEADER_ROLE: "user"}
    try:
        headers = client.signed_headers("GET", "/v1/identity", "application/octet-stream")
    finally:
        await client.close()
    async with httpx.AsyncClient() as http:
        reply = await http.get(stack.endpoint + "/v1/identity", headers={**headers, **spoofed})
    assert reply.status_code == 200
    identity = reply.json()["identity"]
    assert identity["access_key"] == stack.auth.keypair.access_key
    assert identity["role"] == "ROLE_SUPERADMIN"
    assert identity["user_id"] != spoofed[HEADER_USER_ID]
    used_http = await _checks_sent_over_http(stack) > 0
    assert used_http == (request.node.callspec.params["stack"] == "http")


async def test_an_unreachable_check_refuses_signed_requests_with_503(stack, request):
    client = stack.client()
    try:
        headers = client.signed_headers("GET", "/v1/identity", "application/octet-stream")
    finally:
        await client.close()
    if request.node.callspec.params["stack"] == "http":
        assert stack.auth.authz_http is not None
        await stack.auth.authz_http.stop()
    else:
        await stack.auth.grpc.stop(0.1)
    async with httpx.AsyncClient() as http:
        reply = await http.get(stack.endpoint + "/v1/identity", headers=headers)
    assert reply.status_code == 503
    assert reply.json()["code"] == 14


@asynccontextmanager
async def _stalled_replica() -> AsyncIterator[str]:
    """An auth replica that accepts connections and never answers (a hung process)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_a_stalled_check_replica_is_taken_out_of_rotation(auth_db, redis_url, tmp_path):
    async with _stalled_replica() as stalled:
        edge = {"authz_timeout_seconds": 0.5}
        stack_of_two = edge_stack(
            auth_db, redis_url, tmp_path, edge=edge, more_authz_replicas=(stalled,)
        )
        async with stack_of_two as stack:
            client = stack.client()
            try:

                async def answered() -> bool:
                    try:
                        await client.whoami()
                    except ApiError as err:
                        assert err.status == 503, err
                        return False
                    return True

                # Round robin alternates between the replicas until the health checker finds
                # the stalled one out; then every Check goes to the one that answers.
                streak = 0
                async with asyncio.timeout(30):
                    while streak < 10:
                        streak = streak + 1 if await answered() else 0
                assert all([await answered() for _ in range(20)])
            finally:
                await client.close()
