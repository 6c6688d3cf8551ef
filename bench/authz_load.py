"""CPU per ext_authz Check in a real auth process, loaded the way Envoy loads it (HTTP/2, few
connections, many streams), without Envoy or the rest of the platform.

    .venv/bin/python -m bench.authz_load [--checks 6000] [--rounds 3]

Starts `python -m services.auth` from this checkout on a database of its own (created and
dropped as the tests do: SHIPYARD_TEST_PG_URL, SHIPYARD_TEST_REDIS_URL) and its own Redis
prefix, and sends one signed CheckRequest `--checks` times with h2load (2 connections x 16
streams). Every call but the first is answered REPLAYED_SIGNATURE after the same work as an
admitted one (keypair lookup, signature, the Redis gate, a reply to build): h2load cannot vary
the request, and a signature is single-use. Prints auth's CPU time per Check (user + system,
from /proc) per round; attach `py-spy record --native -p <pid>` (the pid is printed) for a
profile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import grpc
import psutil
from envoy_ext_authz.v3 import external_auth_pb2 as authz

from bench.load_tools import grpc_frame
from cli.infra import free_port
from libs.core.signing import DEFAULT_API_VERSION, authorization_header, sign
from tests.conftest import (
    REDIS_URL,
    SECRET_KEY_ENCRYPTION_KEY,
    create_database,
    drop_database,
)

ROOT = Path(__file__).resolve().parent.parent
CHECK = "/envoy.service.auth.v3.Authorization/Check"
HOST = "127.0.0.1:8090"
ACCESS_KEY = "AKBENCH" + secrets.token_hex(7).upper()[:13]
SECRET_KEY = secrets.token_urlsafe(30)[:40]


def _check_body() -> bytes:
    """A signed `GET /v1/identity` as Envoy reports it (the headers curl sends, and Envoy's)."""
    now = datetime.now(UTC)
    signature = sign(
        secret_key=SECRET_KEY, method="GET", rel_url="/v1/identity", date=now, host=HOST,
        content_type="application/octet-stream", api_version=DEFAULT_API_VERSION,
    )  # fmt: skip
    headers = {
        ":authority": HOST, ":method": "GET", ":path": "/v1/identity", ":scheme": "http",
        "authorization": authorization_header(ACCESS_KEY, signature), "date": now.isoformat(),
        "x-backendai-version": DEFAULT_API_VERSION, "user-agent": "curl/7.88.1",
        "accept": "*/*", "x-forwarded-proto": "http", "x-request-id": secrets.token_hex(16),
    }  # fmt: skip
    http = authz.AttributeContext.HttpRequest(
        method="GET", path="/v1/identity", host=HOST, headers=headers, protocol="HTTP/1.1"
    )
    request = authz.CheckRequest(
        attributes=authz.AttributeContext(request=authz.AttributeContext.Request(http=http))
    )
    return grpc_frame(request.SerializeToString())


async def _round(port: int, body: Path, checks: int, auth: psutil.Process) -> float:
    before = sum(auth.cpu_times()[:2])
    proc = await asyncio.create_subprocess_exec(
        "h2load", "-n", str(checks), "-c", "2", "-m", "16", "-d", str(body),
        "-H", "content-type: application/grpc", "-H", "te: trailers",
        f"http://127.0.0.1:{port}{CHECK}", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    if f"{checks} succeeded" not in out.decode():
        raise RuntimeError(f"h2load:\n{out.decode()}")
    return (sum(auth.cpu_times()[:2]) - before) / checks * 1e6


async def main(checks: int, rounds: int) -> None:
    database, url = await create_database()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    env |= {
        "AUTH_INTERNAL_TOKEN": secrets.token_urlsafe(16),
        "AUTH_BIND": f"127.0.0.1:{port}",
        "AUTH_AUTHZ_BIND": "",  # the gRPC Check only
        "AUTH_DATABASE_URL": url,
        "AUTH_DATABASE_POOL_SIZE": "2",
        "AUTH_REDIS_URL": REDIS_URL,
        "AUTH_SECRET_KEY_ENCRYPTION_KEY": SECRET_KEY_ENCRYPTION_KEY,
        "AUTH_REDIS_PREFIX": f"bench:{secrets.token_hex(3)}:",
        "AUTH_BOOTSTRAP_ACCESS_KEY": ACCESS_KEY,
        "AUTH_BOOTSTRAP_SECRET_KEY": SECRET_KEY,
        "AUTH_LOG_LEVEL": "WARNING",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.auth", cwd=ROOT, env=env
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await asyncio.wait_for(channel.channel_ready(), 60)
        auth = psutil.Process(server.pid)
        print(f"auth pid {server.pid}")
        with tempfile.NamedTemporaryFile(suffix=".body") as body:
            body.write(_check_body())
            body.flush()
            await _round(port, Path(body.name), 500, auth)  # warm-up
            for i in range(rounds):
                cpu = await _round(port, Path(body.name), checks, auth)
                print(f"round {i}: auth CPU {cpu:.0f} us per Check")
    finally:
        server.terminate()
        await server.wait()
        await drop_database(database)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.checks, args.rounds))


if __name__ == "__main__":
    run()
