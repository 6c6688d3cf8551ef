"""Signed `GET /v1/identity` through a real edge, with auth's Check over gRPC and over HTTP in
turn: req/s only, so that a latency cost of either transport would show.

    .venv/bin/python -m bench.authz_transports [--requests 2000] [--rounds 3]

Auth runs in this process on a database of its own (as the edge tests start it, with
tests/integration/edgeauth/stack.py), Envoy beside it with one worker; curl sends the
pre-signed calls over 32 keep-alive connections (bench.load_tools.curl_parallel). The
superadmin's rate limit is raised so that it is counted but never reached. For CPU per call
use `bench.paths --reads-only --authz grpc|http`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from sqlalchemy import text

from bench.load_tools import curl_parallel
from bench.path_reads import PreSigner
from libs.db.engine import create_engine
from services.auth.adapters.schema import migrate
from tests.conftest import REDIS_URL, create_database, drop_database
from tests.integration.edgeauth.stack import edge_stack

CONTENT_TYPE = "application/octet-stream"


async def _round(database_url: str, authz: str, requests: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with edge_stack(database_url, REDIS_URL, Path(tmp), edge={"authz": authz}) as s:
            engine = create_engine(database_url, pool_size=1)
            try:
                async with engine.begin() as conn:
                    await conn.execute(text("UPDATE auth.keypairs SET rate_limit = 100000000"))
            finally:
                await engine.dispose()
            await asyncio.sleep(5.5)  # auth's keypair cache (AUTH_KEYPAIR_CACHE_TTL) forgets
            kp = s.auth.keypair
            signer = PreSigner(kp.access_key, kp.secret_key, s.endpoint.removeprefix("http://"))
            url = s.endpoint + "/v1/identity"
            await curl_parallel(url, signer.many("GET", "/v1/identity", CONTENT_TYPE, 200))
            result = await curl_parallel(
                url, signer.many("GET", "/v1/identity", CONTENT_TYPE, requests), concurrency=32
            )
            if result.ok < result.requests:
                raise RuntimeError(f"{authz}: {result.codes}")
            return result.rps


async def main(requests: int, rounds: int) -> None:
    name, url = await create_database()
    try:
        await migrate(url)
        for _ in range(rounds):
            for authz in ("grpc", "http"):
                rps = await _round(url, authz, requests)
                load = os.getloadavg()[0]
                print(f"{authz}: {rps:.0f} req/s (load average {load:.1f})", flush=True)
    finally:
        await drop_database(name)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))


if __name__ == "__main__":
    run()
