"""The cost of authentication at the edge: GetCurrentIdentity through Envoy, keypair-signed
(ext_authz: signature + replay cache + rate limit) vs bearer token (jwt_authn inside Envoy) vs
straight gRPC to auth (no edge, no authentication), over native gRPC.

    .venv/bin/python -m bench.edge_auth [--requests 4000] [--concurrency 16] [--root DIR]

It starts auth and the edge as `shipyard up` does (own database, own Redis prefix). Every
signed request is signed beforehand with its own Date, so no signature is used twice.
`--root` runs the services from another checkout (e.g. a `git worktree` of an older commit,
with its protos generated) to measure "before"; modes that checkout lacks are skipped.
Besides req/s and latency it prints auth's CPU time per request (user + system, from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
from shipyard.auth.v1 import identity_service_pb2 as pb
from shipyard.auth.v1 import identity_service_pb2_grpc as pb_grpc

from bench.proc_cpu import cpu_seconds
from cli.infra import free_port, port_open
from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, Role, caller_to_headers
from libs.core.signing import DEFAULT_API_VERSION, authorization_header, sign
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
METHOD = "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"
TOKEN = secrets.token_urlsafe(16)
ACCESS_KEY = "AKBENCH" + secrets.token_hex(7).upper()[:13]
SECRET_KEY = secrets.token_urlsafe(30)[:40]
PASSWORD = "bench password"

Metadata = list[tuple[str, str]]


def signed_metadata(authority: str, count: int) -> list[Metadata]:
    """`count` requests signed in advance, each with its own Date (so its own signature)."""
    start = datetime.now(UTC)
    out: list[Metadata] = []
    for i in range(count):
        date = start + timedelta(microseconds=i)
        signature = sign(
            secret_key=SECRET_KEY,
            method="POST",
            rel_url=METHOD,
            date=date,
            host=authority,
            content_type="application/grpc",
            api_version=DEFAULT_API_VERSION,
        )
        out.append(
            [
                ("date", date.isoformat()),
                ("x-backendai-version", DEFAULT_API_VERSION),
                ("authorization", authorization_header(ACCESS_KEY, signature)),
            ]
        )
    return out


async def load(
    addr: str, metadata: Callable[[int], Metadata], count: int, concurrency: int
) -> tuple[float, list[float]]:
    """Requests per second and per-call latencies (ms) of `count` unary calls."""
    channels = [grpc.aio.insecure_channel(addr) for _ in range(max(1, concurrency // 8))]
    stubs = [pb_grpc.IdentityServiceStub(c) for c in channels]
    request = pb.GetCurrentIdentityRequest()
    latencies: list[float] = []
    next_index = 0

    async def worker(stub: pb_grpc.IdentityServiceStub) -> None:
        nonlocal next_index
        while next_index < count:
            i, next_index = next_index, next_index + 1
            t0 = time.perf_counter()
            await stub.GetCurrentIdentity(request, metadata=metadata(i), timeout=10)
            latencies.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker(stubs[w % len(stubs)]) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    for channel in channels:
        await channel.close()
    return count / elapsed, latencies


async def spawn(
    root: Path, module: str, env: dict[str, str], log: Path
) -> asyncio.subprocess.Process:
    path = os.pathsep.join([str(root), str(root / "build" / "gen")])
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, cwd=root, stdout=out, stderr=out,
            env={**os.environ, **env, "PYTHONPATH": path},
        )  # fmt: skip


async def wait_edge(endpoint: str, timeout: float = 60.0) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(timeout):
        while True:
            try:
                if (await client.get(endpoint + "/v1/identity", timeout=1)).status_code == 401:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


async def set_admin_password(database_url: str) -> str | None:
    """Give the bootstrap superadmin a password and its keypair a huge rate limit; the admin's
    e-mail, or None when the schema has no password column (an older checkout)."""
    import asyncpg
    from argon2 import PasswordHasher

    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'auth' AND table_name = 'users'"
        )
        if "password_hash" not in {c["column_name"] for c in columns}:
            return None
        row = await conn.fetchrow(
            "UPDATE auth.users SET password_hash = $1 WHERE role = 'superadmin' RETURNING email",
            PasswordHasher().hash(PASSWORD),
        )
        # A keypair whose policy allows the load: the limiter is measured, never hit.
        await conn.execute(
            "UPDATE auth.keypairs SET rate_limit = 100000000 WHERE access_key = $1", ACCESS_KEY
        )
        return None if row is None else str(row["email"])
    finally:
        await conn.close()


def report(name: str, rps: float, latencies: list[float], cpu: float, count: int) -> None:
    ordered = sorted(latencies)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    print(
        f"{name:<22} {rps:8.0f} req/s  {1e6 / rps:7.0f} us/req  p50 {p50:6.2f} ms  "
        f"p99 {p99:6.2f} ms  auth CPU {cpu / count * 1e6:6.0f} us/req  "
        f"(mean {statistics.mean(latencies):.2f} ms)"
    )


async def bench(args: argparse.Namespace) -> None:
    root = Path(args.root)
    db_name, database_url = await create_database()
    auth_port, authz_port, edge_port = free_port(), free_port(), free_port()
    processes: list[asyncio.subprocess.Process] = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        key_file = run / "token-key.pem"
        try:
            auth_env = {
                "AUTH_INTERNAL_TOKEN": TOKEN,
                "AUTH_BIND": f"127.0.0.1:{auth_port}",
                "AUTH_AUTHZ_BIND": f"127.0.0.1:{authz_port}",
                "AUTH_DATABASE_URL": database_url,
                "AUTH_REDIS_PREFIX": f"bench:{secrets.token_hex(3)}:",
                "AUTH_BOOTSTRAP_ACCESS_KEY": ACCESS_KEY,
                "AUTH_BOOTSTRAP_SECRET_KEY": SECRET_KEY,
                "AUTH_TOKEN_KEY_FILE": str(key_file),
                "AUTH_LOG_LEVEL": "WARNING",
            }
            auth = await spawn(root, "services.auth", auth_env, run / "auth.log")
            processes.append(auth)
            jwks = Path(str(key_file) + ".jwks.json")
            for _ in range(600):  # auth migrates, bootstraps, writes the JWKS, then listens
                if port_open("127.0.0.1", auth_port):
                    break
                await asyncio.sleep(0.1)
            edge_env = {
                "EDGE_INTERNAL_TOKEN": TOKEN,
                "EDGE_PORT": str(edge_port),
                "EDGE_ADMIN_PORT": str(free_port()),
                "EDGE_AUTH_ADDR": f"127.0.0.1:{auth_port}",
                "EDGE_AUTH_AUTHZ_ADDR": f"127.0.0.1:{authz_port}",
                "EDGE_DESCRIPTOR_SET": str(root / "build" / "descriptors.binpb"),
                "EDGE_CONCURRENCY": str(args.envoy_workers),
                "EDGE_RUN_DIR": str(run / "edge"),
                "EDGE_BEARER_RATE_LIMIT": "100000000",
                **({"EDGE_JWKS_FILE": str(jwks)} if await asyncio.to_thread(jwks.exists) else {}),
            }
            processes.append(await spawn(root, "gateway", edge_env, run / "edge.log"))
            endpoint = f"http://127.0.0.1:{edge_port}"
            await wait_edge(endpoint)
            email = await set_admin_password(database_url)
            await measure(args, auth.pid, f"127.0.0.1:{auth_port}", endpoint, email)
        finally:
            for proc in processes:
                if proc.returncode is None:
                    proc.terminate()
                    await proc.wait()
            await drop_database(db_name)


async def measure(
    args: argparse.Namespace, auth_pid: int, auth_addr: str, endpoint: str, email: str | None
) -> None:
    edge_addr = endpoint.removeprefix("http://")
    n, c = args.requests, args.concurrency
    identity = caller_to_headers(Caller(user_id="bench", role=Role.SUPERADMIN, email="b@x"))
    direct: Metadata = [*((k, v) for k, v in identity.items() if v), (HEADER_INTERNAL_TOKEN, TOKEN)]
    # (name, address, metadata of call i); signed calls get fresh signatures for the warm-up too.
    modes: list[tuple[str, str, Callable[[int], Metadata]]] = [
        ("direct gRPC to auth", auth_addr, lambda _: direct),
    ]
    signed = signed_metadata(edge_addr, n + args.warmup)
    modes.append(("edge, keypair-signed", edge_addr, lambda i: signed[i % len(signed)]))
    if email is not None:
        async with httpx.AsyncClient() as http:
            reply = await http.post(
                endpoint + "/v1/auth:login", json={"email": email, "password": PASSWORD}
            )
        token = reply.json()["tokens"]["access_token"]
        bearer: Metadata = [("authorization", f"Bearer {token}")]
        modes.append(("edge, bearer token", edge_addr, lambda _: bearer))
    print(f"{n} requests, concurrency {c}, Envoy workers {args.envoy_workers}, root {args.root}")
    for name, addr, metadata in modes:
        warm_up = functools.partial(_shifted, metadata, n)
        await load(addr, warm_up, args.warmup, c)
        before = cpu_seconds(auth_pid)
        rps, latencies = await load(addr, metadata, n, c)
        report(name, rps, latencies, cpu_seconds(auth_pid) - before, n)
        # h2load sends the same headers every time: fine unless each call needs a signature.
        if args.h2load and "signed" not in name:
            await h2load(name, addr, metadata(0), n, auth_pid)
    sys.stdout.flush()


async def h2load(name: str, addr: str, metadata: Metadata, count: int, auth_pid: int) -> None:
    """The same calls from h2load (C, so the client costs little CPU): gRPC over h2c."""
    with tempfile.NamedTemporaryFile(suffix=".grpc") as body:
        body.write(b"\x00" + len(b"").to_bytes(4, "big"))  # one empty request message
        body.flush()
        headers = [("content-type", "application/grpc"), ("te", "trailers"), *metadata]
        argv = ["h2load", "-n", str(count), "-c", "4", "-m", "8", "-d", body.name]
        for key, value in headers:
            argv += ["-H", f"{key}: {value}"]
        argv.append(f"http://{addr}{METHOD}")
        before = cpu_seconds(auth_pid)
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        cpu = cpu_seconds(auth_pid) - before
    text = out.decode()
    summary = next((line for line in text.splitlines() if line.startswith("finished in")), text)
    status = next((line for line in text.splitlines() if line.startswith("status codes")), "")
    print(f"  h2load {name}: {summary.strip()}; {status.strip()}; "
          f"auth CPU {cpu / count * 1e6:.0f} us/req")  # fmt: skip


def _shifted(metadata: Callable[[int], Metadata], offset: int, i: int) -> Metadata:
    return metadata(offset + i)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--envoy-workers", type=int, default=1)
    parser.add_argument("--root", default=str(ROOT), help="checkout to run auth and the edge from")
    parser.add_argument("--h2load", action="store_true", help="also load with h2load (not signed)")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
