"""A browser's gRPC-Web call through the edge, signed like native gRPC, with CORS."""

from __future__ import annotations

import httpx
import pytest
from shipyard.auth.v1 import identity_service_pb2 as pb

from cli.client import ShipyardClient
from cli.platform import Platform
from tests.integration.gateway.edge_harness import grpc_web_frame, parse_grpc_web

pytestmark = pytest.mark.e2e

METHOD = "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"


async def test_signed_grpc_web_call_returns_the_identity(platform: Platform) -> None:
    assert platform.keypair is not None
    signer = ShipyardClient(
        platform.endpoint, platform.keypair.access_key, platform.keypair.secret_key
    )
    # The edge turns gRPC-Web into gRPC before authentication: sign it as gRPC.
    headers = signer.signed_headers("POST", METHOD, "application/grpc")
    await signer.close()
    headers |= {
        "content-type": "application/grpc-web+proto",
        "x-grpc-web": "1",
        "origin": "http://localhost:3000",
    }
    body = grpc_web_frame(pb.GetCurrentIdentityRequest().SerializeToString())
    async with httpx.AsyncClient() as http:
        reply = await http.post(platform.endpoint + METHOD, headers=headers, content=body)
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"
    messages, trailers = parse_grpc_web(reply.content)
    assert trailers.get("grpc-status", reply.headers.get("grpc-status")) == "0"
    identity = pb.GetCurrentIdentityResponse.FromString(messages[0]).identity
    assert identity.access_key == platform.keypair.access_key


async def test_unsigned_grpc_web_call_is_refused(platform: Platform) -> None:
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}
    body = grpc_web_frame(pb.GetCurrentIdentityRequest().SerializeToString())
    async with httpx.AsyncClient() as http:
        reply = await http.post(platform.endpoint + METHOD, headers=headers, content=body)
    assert reply.status_code == 401
    assert reply.headers["grpc-status"] == "16"
