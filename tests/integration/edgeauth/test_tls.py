"""The edge serves HTTPS and gRPC over TLS with the certificate `shipyard up --tls` makes."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from shipyard.auth.v1 import identity_service_pb2 as pb
from shipyard.auth.v1 import identity_service_pb2_grpc as pb_grpc

from cli.grpc_signing import Signer
from cli.tls import ensure_self_signed
from libs.grpcutil.call_details import rewriting_interceptors
from tests.integration.edgeauth.stack import Stack, edge_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(auth_db, redis_url, tmp_path_factory) -> AsyncIterator[Stack]:
    run_dir = tmp_path_factory.mktemp("edge")
    cert, key = ensure_self_signed(run_dir / "tls")
    tls = {"tls_cert_file": cert, "tls_key_file": key}
    async with edge_stack(auth_db, redis_url, run_dir, edge=tls) as s:
        yield s


def cert_of(stack: Stack):
    return stack.edge.run_dir / "tls" / "edge-cert.pem"


async def test_signed_rest_call_over_https_trusting_the_certificate(stack):
    client = stack.client()
    headers = client.signed_headers("GET", "/v1/identity", "application/octet-stream")
    await client.close()
    async with httpx.AsyncClient(verify=str(cert_of(stack))) as http:
        reply = await http.get(stack.endpoint + "/v1/identity", headers=headers)
    assert stack.endpoint.startswith("https://")
    assert reply.status_code == 200
    assert reply.json()["identity"]["access_key"] == stack.auth.keypair.access_key


async def test_plain_http_and_untrusted_clients_are_refused(stack):
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):  # not trusting the self-signed certificate
            await http.get(stack.endpoint + "/v1/identity")
        with pytest.raises(httpx.HTTPError):  # cleartext to a TLS port
            await http.get(stack.endpoint.replace("https", "http") + "/v1/identity")


async def test_native_grpc_over_tls(stack):
    kp = stack.auth.keypair
    credentials = grpc.ssl_channel_credentials(root_certificates=cert_of(stack).read_bytes())
    signing = rewriting_interceptors(Signer(stack.grpc_addr, kp.access_key, kp.secret_key))
    async with grpc.aio.secure_channel(
        stack.grpc_addr, credentials, interceptors=signing
    ) as channel:
        reply = await pb_grpc.IdentityServiceStub(channel).GetCurrentIdentity(
            pb.GetCurrentIdentityRequest(), timeout=5
        )
    assert reply.identity.access_key == kp.access_key


def test_certificate_is_reused_while_valid(tmp_path):
    first = ensure_self_signed(tmp_path)
    before = first[0].read_bytes()
    assert ensure_self_signed(tmp_path) == first
    assert first[0].read_bytes() == before
    assert ssl.PEM_cert_to_DER_cert(before.decode())
    assert oct(first[1].stat().st_mode & 0o777) == "0o600"
