"""Fake upstreams for the Envoy edge, and settings that point the edge at them.

Reusable outside this directory: `FakeUpstreams.start()` runs one grpc.aio server per upstream
(auth also answers ext_authz Check), `edge_settings()` builds EdgeSettings on free ports.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from envoy_ext_authz.v3 import external_auth_pb2 as ea
from envoy_ext_authz.v3 import external_auth_pb2_grpc as ea_grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from pydantic import SecretStr
from shipyard.auth.v1 import identity_service_pb2 as ids
from shipyard.auth.v1 import identity_service_pb2_grpc as ids_grpc
from shipyard.type.v1 import identity_pb2
from typing_extensions import override

from gateway.config import EdgeSettings

ROOT = Path(__file__).resolve().parents[3]
DESCRIPTORS = ROOT / "build" / "descriptors.binpb"
INTERNAL_TOKEN = "edge-test-token"
ALLOWED_ORIGIN = "http://localhost:3000"
GOOD_CREDENTIAL = "good"
# What the fake authz injects for GOOD_CREDENTIAL. It sets no x-shipyard-email on purpose.
INJECTED = {
    "x-shipyard-user-id": "user-1",
    "x-shipyard-access-key": "AKTEST",
    "x-shipyard-role": "admin",
    "x-shipyard-domain": "default",
    "x-shipyard-project-ids": "p1,p2",
}
ERROR_TRIGGER = "x-test-error"  # a header that makes the fake IdentityService fail
# A serialized GetCurrentIdentityResponse (gRPC binary metadata) the fake answers with as is.
IDENTITY_ANSWER = "x-test-identity-bin"
ENVOY_HEALTH_CHECKER = "Envoy/HC"  # user agent of Envoy's active health checks
AUTH_STORE_DOWN = "store-down"  # a credential the fake authz answers with its own 503 denial


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Received:
    upstream: str
    method: str
    metadata: dict[str, str]


@dataclass
class Recorder:
    calls: list[Received] = field(default_factory=list)
    checks: list[ea.CheckRequest] = field(default_factory=list)
    health_checks: list[str] = field(default_factory=list)  # Envoy's, by upstream

    def methods(self, upstream: str) -> list[str]:
        return [c.method for c in self.calls if c.upstream == upstream]

    def only_call(self) -> Received:
        assert len(self.calls) == 1, self.calls
        return self.calls[0]

    def clear(self) -> None:
        self.calls.clear()
        self.checks.clear()
        self.health_checks.clear()


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}


class FakeAuthorization(ea_grpc.AuthorizationServicer):
    """Allows `authorization: good` and injects INJECTED; denies anything else with 401."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    @override
    async def Check(self, request: ea.CheckRequest, context: Any) -> ea.CheckResponse:
        self._recorder.checks.append(request)
        headers = request.attributes.request.http.headers
        if headers.get("authorization") == GOOD_CREDENTIAL:
            overwrite = ea.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
            ok = ea.OkHttpResponse(
                headers=[
                    ea.HeaderValueOption(
                        header=ea.HeaderValue(key=k, value=v), append_action=overwrite
                    )
                    for k, v in INJECTED.items()
                ],
                headers_to_remove=["authorization"],
            )
            return ea.CheckResponse(status=status_pb2.Status(code=code_pb2.OK), ok_response=ok)
        if headers.get("authorization") == AUTH_STORE_DOWN:
            body = json.dumps({"code": 14, "message": "credential store unavailable"})
            denied = ea.DeniedHttpResponse(status=ea.HttpStatus(code=503), body=body)
            return ea.CheckResponse(status=status_pb2.Status(code=14), denied_response=denied)
        message = "missing or invalid credentials"
        # gRPC and gRPC-Web callers see the body as grpc-message; REST callers get JSON.
        grpc_caller = headers.get("content-type", "").startswith("application/grpc")
        body = message if grpc_caller else json.dumps({"code": 16, "message": message})
        denied = ea.DeniedHttpResponse(status=ea.HttpStatus(code=401), body=body)
        status = status_pb2.Status(code=code_pb2.UNAUTHENTICATED, message=message)
        return ea.CheckResponse(status=status, denied_response=denied)


class FakeIdentityService(ids_grpc.IdentityServiceServicer):
    """Echoes the identity headers it received as the caller's identity."""

    @override
    async def GetCurrentIdentity(
        self, request: ids.GetCurrentIdentityRequest, context: grpc.aio.ServicerContext
    ) -> ids.GetCurrentIdentityResponse:
        answer = dict(context.invocation_metadata() or ()).get(IDENTITY_ANSWER)
        if isinstance(answer, bytes):
            return ids.GetCurrentIdentityResponse.FromString(answer)
        md = _metadata(context)
        if md.get(ERROR_TRIGGER) == "not-found":
            info = any_pb2.Any()
            info.Pack(error_details_pb2.ErrorInfo(reason="USER_NOT_FOUND", domain="auth"))
            status = status_pb2.Status(
                code=code_pb2.NOT_FOUND, message="no such user", details=[info]
            )
            await context.abort_with_status(rpc_status.to_status(status))
        identity = identity_pb2.Identity(
            user_id=md.get("x-shipyard-user-id", ""),
            access_key=md.get("x-shipyard-access-key", ""),
            role="ROLE_ADMIN" if md.get("x-shipyard-role") == "admin" else "ROLE_USER",
            domain_name=md.get("x-shipyard-domain", ""),
            project_ids=[p for p in md.get("x-shipyard-project-ids", "").split(",") if p],
            email=md.get("x-shipyard-email", ""),
        )
        return ids.GetCurrentIdentityResponse(identity=identity)


class _CatchAll(grpc.GenericRpcHandler):  # type: ignore[misc]  # untyped grpc base
    """Answers every method no servicer serves with an empty message (any method exists)."""

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        async def answer(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return b""

        return grpc.unary_unary_rpc_method_handler(answer)


class _Recording(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # untyped grpc base
    """Records every call that reaches an upstream (ext_authz checks are recorded apart)."""

    def __init__(self, upstream: str, recorder: Recorder) -> None:
        self._upstream = upstream
        self._recorder = recorder

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        metadata = {k: v for k, v in details.invocation_metadata if isinstance(v, str)}
        if metadata.get("user-agent") == ENVOY_HEALTH_CHECKER:
            self._recorder.health_checks.append(self._upstream)
        elif details.method != "/envoy.service.auth.v3.Authorization/Check":
            self._recorder.calls.append(Received(self._upstream, details.method, metadata))
        return await continuation(details)


@dataclass
class FakeUpstreams:
    recorder: Recorder
    servers: dict[str, grpc.aio.Server]
    addrs: dict[str, str]

    @classmethod
    async def start(cls) -> FakeUpstreams:
        recorder = Recorder()
        servers: dict[str, grpc.aio.Server] = {}
        addrs: dict[str, str] = {}
        for name in ("auth", "registry", "scheduler", "storage"):
            server = grpc.aio.server(interceptors=[_Recording(name, recorder)])
            if name == "auth":
                ea_grpc.add_AuthorizationServicer_to_server(FakeAuthorization(recorder), server)
                ids_grpc.add_IdentityServiceServicer_to_server(FakeIdentityService(), server)
            # Like every service (libs/grpcutil): the edge health-checks each replica.
            checker = health.aio.HealthServicer()
            await checker.set("", health_pb2.HealthCheckResponse.SERVING)
            health_pb2_grpc.add_HealthServicer_to_server(checker, server)
            server.add_generic_rpc_handlers((_CatchAll(),))
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            servers[name], addrs[name] = server, f"127.0.0.1:{port}"
        return cls(recorder, servers, addrs)

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop(grace=None)


def edge_settings(addrs: dict[str, str], run_dir: Path | None, **overrides: Any) -> EdgeSettings:
    """Settings for an edge on free ports (0: Envoy picks; EnvoyEdge reports the bound port)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "admin_port": 0,
        "auth_addr": addrs["auth"],
        # The fake auth answers the gRPC Check (the real one's HTTP Check: tests/.../edgeauth).
        "authz": "grpc",
        "registry_addr": addrs["registry"],
        "scheduler_addr": addrs["scheduler"],
        "storage_addr": addrs["storage"],
        "internal_token": SecretStr(INTERNAL_TOKEN),
        "cors_origins": (ALLOWED_ORIGIN,),
        "descriptor_set": DESCRIPTORS,
        "concurrency": 1,
        "log_level": "info",
        "run_dir": run_dir,
        **overrides,
    }
    return EdgeSettings(**values)


def grpc_web_frame(message: bytes) -> bytes:
    """One uncompressed gRPC-Web data frame."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def parse_grpc_web(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """The messages and trailers of a binary gRPC-Web response body."""
    messages: list[bytes] = []
    trailers: dict[str, str] = {}
    while body:
        flags, size = body[0], int.from_bytes(body[1:5], "big")
        chunk, body = body[5 : 5 + size], body[5 + size :]
        if flags & 0x80:
            for line in chunk.decode().split("\r\n"):
                key, _, value = line.partition(":")
                if key:
                    trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(chunk)
    return messages, trailers
