"""What one unary call costs a Python gRPC server before any work: the floor under every Check.

    .venv/bin/python -m bench.grpc_floor [--calls 6000] [--rounds 2]

Serves, in this process, an ext_authz `Check` that answers an empty reply and auth's real
`GetCurrentIdentity`, and loads each with h2load (2 connections x 16 streams, as Envoy's
ext_authz client keeps few connections). Prints the CPU time this process spent per call
(user + system, so the load generator's work is not counted), for:

- `bare`: grpc.aio server without interceptors;
- `shipyard Check`: the same Check behind Shipyard's server (`libs/grpcutil/server.py`: its
  interceptor, health, reflection) with tracing set up as every service does; Check traces
  itself (`libs/telemetry/server_spans.py`, SELF_TRACED_METHODS);
- `shipyard GetCurrentIdentity`: the RPC a signed `/v1/identity` ends in, with the identity
  headers the edge adds, with the server span Shipyard's interceptor opens for it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

import grpc
from envoy_ext_authz.v3 import external_auth_pb2 as authz
from envoy_ext_authz.v3 import external_auth_pb2_grpc as authz_grpc
from shipyard.auth.v1 import identity_service_pb2_grpc as identity_grpc
from typing_extensions import override

from bench.load_tools import grpc_frame
from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, Role, caller_to_headers
from libs.grpcutil.server import Registration, create_server
from libs.telemetry.tracing import setup_tracing
from services.auth.api.servicer import IdentityServicer

CHECK = "/envoy.service.auth.v3.Authorization/Check"
IDENTITY = "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"
TOKEN = "bench-grpc-floor"


class _EmptyCheck(authz_grpc.AuthorizationServicer):
    @override
    async def Check(
        self, request: authz.CheckRequest, context: grpc.aio.ServicerContext
    ) -> authz.CheckResponse:
        return authz.CheckResponse()


def _check_body() -> bytes:
    headers = {
        "authorization": "BackendAI signMethod=HMAC-SHA256, credential=AKBENCH:" + "0" * 64,
        "date": "2026-11-29T10:00:00+00:00",
        "x-backendai-version": "v8.20240315",
        "user-agent": "curl/7.88.1",
        "accept": "*/*",
    }
    http = authz.AttributeContext.HttpRequest(
        method="GET", path="/v1/identity", host="127.0.0.1:8090", headers=headers
    )
    request = authz.CheckRequest(
        attributes=authz.AttributeContext(request=authz.AttributeContext.Request(http=http))
    )
    return grpc_frame(request.SerializeToString())


async def _cpu_per_call(
    port: int, method: str, body: bytes, headers: list[str], calls: int
) -> float:
    with tempfile.NamedTemporaryFile(suffix=".body") as data:
        data.write(body)
        data.flush()
        argv = ["h2load", "-n", str(calls), "-c", "2", "-m", "16", "-d", data.name]
        for header in ["content-type: application/grpc", "te: trailers", *headers]:
            argv += ["-H", header]
        started = time.process_time()
        proc = await asyncio.create_subprocess_exec(
            *argv, f"http://127.0.0.1:{port}{method}", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        spent = time.process_time() - started
    if f"{calls} succeeded" not in out.decode():
        raise RuntimeError(f"h2load:\n{out.decode()}")
    return spent / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    bare = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    authz_grpc.add_AuthorizationServicer_to_server(_EmptyCheck(), bare)
    bare_port = bare.add_insecure_port("127.0.0.1:0")
    await bare.start()
    setup_tracing("bench", otlp_endpoint=None)  # as every service does before its server
    shipyard = create_server(
        domain="bench",
        internal_token=TOKEN,
        bind="127.0.0.1:0",
        services=[
            Registration(
                authz_grpc.add_AuthorizationServicer_to_server,
                _EmptyCheck(),
                "envoy.service.auth.v3.Authorization",
            ),
            Registration(
                identity_grpc.add_IdentityServiceServicer_to_server,
                IdentityServicer(),
                "shipyard.auth.v1.IdentityService",
            ),
        ],
    )
    await shipyard.start()
    caller = Caller(user_id="u-1", access_key="AKBENCH", role=Role.USER, email="b@example.com")
    identity = [f"{k}: {v}" for k, v in caller_to_headers(caller).items() if v]
    identity.append(f"{HEADER_INTERNAL_TOKEN}: {TOKEN}")
    loads = [
        ("bare Check", bare_port, CHECK, _check_body(), []),
        ("shipyard Check", shipyard.port, CHECK, _check_body(), []),
        ("shipyard GetCurrentIdentity", shipyard.port, IDENTITY, grpc_frame(b""), identity),
    ]
    try:
        for name, port, method, body, headers in loads:
            await _cpu_per_call(port, method, body, headers, 500)  # warm-up
            figures = [
                await _cpu_per_call(port, method, body, headers, calls) for _ in range(rounds)
            ]
            shown = ", ".join(f"{f:.0f}" for f in figures)
            print(f"{name:30} CPU us per call: {shown}")
    finally:
        await shipyard.stop(0)
        await bare.stop(0)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))


if __name__ == "__main__":
    run()
