"""The read rows of bench.paths: GetSession straight to the registry, and the edge's ratios.

Each ratio is (edge req/s) ÷ (straight gRPC req/s) of the same RPC at the same concurrency
(32 streams in flight): GetSession with a bearer token over gRPC through the edge and
keypair-signed REST (`GET /v1/sessions/{id}`), GetCurrentIdentity keypair-signed over gRPC
through the edge against straight gRPC to auth. Straight calls carry what the edge adds (the
internal token and the caller's identity headers), so the services do the same work.
"""

from __future__ import annotations

import contextlib
import resource
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import psutil
from argon2 import PasswordHasher
from shipyard.auth.v1 import identity_service_pb2 as id_pb
from shipyard.registry.v1 import session_service_pb2 as session_pb

from bench.load_tools import Headers, LoadResult, curl_parallel, grpc_frame, h2load
from bench.proc_cpu import cpu_seconds, settled
from cli.client import ShipyardClient
from cli.platform import Platform
from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, Role, caller_to_headers
from libs.core.signing import DEFAULT_API_VERSION, authorization_header, sign

GET_SESSION = "/shipyard.registry.v1.SessionService/GetSession"
GET_IDENTITY = "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"
PASSWORD = "bench paths " + secrets.token_hex(4)
STREAMS = 32  # h2load -c 4 -m 8; curl --parallel-max 32
GRPC = [("content-type", "application/grpc"), ("te", "trailers")]


@dataclass(frozen=True, slots=True)
class Target:
    """A running platform: its edge, the processes behind it and the superadmin keypair."""

    endpoint: str
    access_key: str
    secret_key: str
    registry: str
    auth: str
    internal_token: str
    database_url: str
    registry_pid: int
    auth_pid: int
    edge_pid: int  # the gateway process; Envoy is its child
    agent_pid: int

    @staticmethod
    def of(platform: Platform) -> Target:
        assert platform.keypair is not None and platform.infra is not None
        return Target(
            endpoint=platform.endpoint,
            access_key=platform.keypair.access_key,
            secret_key=platform.keypair.secret_key,
            registry=platform.address("registry"),
            auth=platform.address("auth"),
            internal_token=platform.internal_token,
            database_url=platform.infra.database_url,
            registry_pid=platform.processes["registry"].pid,
            auth_pid=platform.processes["auth"].pid,
            edge_pid=platform.processes["edge"].pid,
            agent_pid=platform.processes["agent"].pid,
        )


async def measure(platform: Platform, requests: int = 4000) -> list[tuple[str, str]]:
    return await measure_target(Target.of(platform), requests)


async def measure_target(target: Target, requests: int) -> list[tuple[str, str]]:
    # Earlier rows (200 session starts) leave work behind: destroys, the kernel pool's refills.
    waited = await settled([target.registry_pid, target.auth_pid, target.agent_pid])
    print(f"  waited {waited:.0f} s for the platform to settle before the read loads")
    email = await _prepare_admin(target.database_url, target.access_key)
    async with ShipyardClient(target.endpoint, target.access_key, target.secret_key) as c:
        session = await c.create_session(
            wait=True, resources={"cpu": "0.25", "mem": "134217728"}, client_token="bench-reads"
        )
        identity = await c.whoami()
        try:
            return await _run(target, session["session_id"], identity, email, requests)
        finally:
            await c.destroy_session(session["session_id"])


async def _run(
    target: Target, session_id: str, identity: dict[str, object], email: str, n: int
) -> list[tuple[str, str]]:
    edge = target.endpoint
    authority = edge.removeprefix("http://")
    caller = Caller(
        user_id=str(identity.get("user_id", "")),
        access_key=target.access_key,
        role=Role(str(identity.get("role", "ROLE_USER")).removeprefix("ROLE_").lower()),
        domain_name=str(identity.get("domain_name", "")),
        email=email,
    )
    straight: Headers = [(k, v) for k, v in caller_to_headers(caller).items() if v]
    straight.append((HEADER_INTERNAL_TOKEN, target.internal_token))
    get_body = grpc_frame(session_pb.GetSessionRequest(session_id=session_id).SerializeToString())
    id_body = grpc_frame(id_pb.GetCurrentIdentityRequest().SerializeToString())
    registry, auth = target.registry, target.auth
    async with httpx.AsyncClient() as http:
        login = await http.post(
            edge + "/v1/auth:login", json={"email": email, "password": PASSWORD}
        )
        login.raise_for_status()
    bearer = [("authorization", f"Bearer {login.json()['tokens']['access_token']}")]

    cpu = _CpuMeter(
        {"registry": target.registry_pid, "auth": target.auth_pid, "edge": target.edge_pid}
    )

    async def grpc_load(base: str, method: str, body: bytes, headers: Headers) -> LoadResult:
        url = f"http://{base}{method}"
        await h2load(url, headers=GRPC + headers, count=200, body=body, expect_data=8)  # warm-up
        return await h2load(url, headers=GRPC + headers, count=n, body=body, expect_data=8)

    with cpu("GetSession direct", n):
        direct = await grpc_load(registry, GET_SESSION, get_body, straight)
    with cpu("GetSession bearer", n):
        via_bearer = await grpc_load(authority, GET_SESSION, get_body, bearer)
    rest = f"/v1/sessions/{session_id}"
    signer = PreSigner(target.access_key, target.secret_key, authority)
    await curl_parallel(edge + rest, signer.many("GET", rest, "application/octet-stream", 200))
    many = signer.many("GET", rest, "application/octet-stream", n)
    with cpu("GetSession signed", n):
        signed = await curl_parallel(edge + rest, many, concurrency=STREAMS)
    with cpu("identity direct", n):
        id_direct = await grpc_load(auth, GET_IDENTITY, id_body, straight)
    many = signer.many("GET", "/v1/identity", "application/octet-stream", n)
    with cpu("identity signed", n):
        id_signed = await curl_parallel(edge + "/v1/identity", many, concurrency=STREAMS)
    for name, result in [("signed GetSession", signed), ("signed identity", id_signed)]:
        if result.ok < result.requests:  # counted out of req/s; a few 503s under overload
            print(f"{name}: {result.ok} of {result.requests} calls succeeded {result.codes}")
        if result.ok < result.requests * 0.9:
            raise RuntimeError(f"{name}: too many failed calls")
    print(f"GetSession direct: {direct.rps:.0f} req/s; through the edge: bearer "
          f"{via_bearer.rps:.0f}, signed REST {signed.rps:.0f} req/s")  # fmt: skip
    print(f"GetCurrentIdentity direct: {id_direct.rps:.0f} req/s; signed through the edge "
          f"{id_signed.rps:.0f} req/s")  # fmt: skip
    return [
        ("GetSession direct req/s", f"{direct.rps:.0f}"),
        ("edge ratio GetSession bearer", f"{via_bearer.rps / direct.rps:.2f}"),
        ("edge ratio GetSession signed", f"{signed.rps / direct.rps:.2f}"),
        ("edge ratio identity signed", f"{id_signed.rps / id_direct.rps:.2f}"),
    ]


class _CpuMeter:
    """Prints the CPU time (user + system) each service spent per call of a load, with its
    children (the edge's Envoy), and the load generator's (h2load, curl: this process's
    children): unlike req/s it hardly depends on what else the machine runs."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}

    def _cpu(self) -> dict[str, float]:
        spent = {n: cpu_seconds(p.pid, children=True) for n, p in self._procs.items()}
        own = resource.getrusage(resource.RUSAGE_CHILDREN)  # children that ended: the loads
        spent["load generator"] = own.ru_utime + own.ru_stime
        return spent

    @contextlib.contextmanager
    def __call__(self, what: str, calls: int) -> Iterator[None]:
        before = self._cpu()
        yield
        after = self._cpu()
        spent = ", ".join(f"{n} {(after[n] - before[n]) / calls * 1e6:.0f}" for n in after)
        print(f"  CPU us per call, {what}: {spent}")


class PreSigner:
    """Requests signed in advance, each with its own Date, so no signature is used twice."""

    def __init__(self, access_key: str, secret_key: str, host: str) -> None:
        self._access_key, self._secret_key, self._host = access_key, secret_key, host
        self._next = datetime.now(UTC)

    def many(self, method: str, rel_url: str, content_type: str, count: int) -> list[Headers]:
        out: list[Headers] = []
        for _ in range(count):
            self._next += timedelta(microseconds=1)
            signature = sign(
                secret_key=self._secret_key,
                method=method,
                rel_url=rel_url,
                date=self._next,
                host=self._host,
                content_type=content_type,
                api_version=DEFAULT_API_VERSION,
            )
            out.append(
                [
                    ("date", self._next.isoformat()),
                    ("x-backendai-version", DEFAULT_API_VERSION),
                    ("authorization", authorization_header(self._access_key, signature)),
                ]
            )
        return out


async def _prepare_admin(database_url: str, access_key: str) -> str:
    """A password for the superadmin (bearer login) and a rate limit the load never reaches,
    so the limiter is measured but never refuses; the admin's e-mail."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        row = await conn.fetchrow(
            "UPDATE auth.users SET password_hash = $1 WHERE role = 'superadmin' RETURNING email",
            PasswordHasher().hash(PASSWORD),
        )
        await conn.execute(
            "UPDATE auth.keypairs SET rate_limit = 100000000 WHERE access_key = $1", access_key
        )
    finally:
        await conn.close()
    if row is None:
        raise RuntimeError("no superadmin to log in as")
    return str(row["email"])
