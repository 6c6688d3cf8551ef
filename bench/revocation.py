"""How long a deactivated keypair keeps working on ANOTHER auth replica; prints the figures.

    .venv/bin/python -m bench.revocation [--rounds 20]

Starts two auth servers on one fresh database and one Redis (SHIPYARD_TEST_PG_URL /
SHIPYARD_TEST_REDIS_URL, default local). Each round: replica B verifies (and caches) a new
keypair, replica A deactivates it, and B is asked every 2 ms until it refuses.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from datetime import UTC, datetime

import asyncpg
import grpc
from envoy_ext_authz.v3 import external_auth_pb2 as authz
from envoy_ext_authz.v3 import external_auth_pb2_grpc as authz_grpc
from google.protobuf import field_mask_pb2
from pydantic import SecretStr
from shipyard.auth.v1 import keypair_service_pb2 as kpb
from shipyard.auth.v1 import keypair_service_pb2_grpc as kpb_grpc
from shipyard.auth.v1 import user_service_pb2 as upb
from shipyard.auth.v1 import user_service_pb2_grpc as upb_grpc

from libs.core.identity import HEADER_INTERNAL_TOKEN, HEADER_SYSTEM
from libs.core.signing import authorization_header, sign
from services.auth.adapters.secret_cipher import new_key_text
from services.auth.app import AuthServer, serve
from services.auth.config import Settings

ADMIN_PG = os.environ.get("SHIPYARD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("SHIPYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HOST = "127.0.0.1:8090"
TOKEN = secrets.token_urlsafe(16)
SYSTEM = [(HEADER_INTERNAL_TOKEN, TOKEN), (HEADER_SYSTEM, "1")]


def _check_request(access_key: str, secret: str) -> authz.CheckRequest:
    now = datetime.now(UTC)
    signature = sign(
        secret_key=secret,
        method="GET",
        rel_url="/v1/identity",
        date=now,
        host=HOST,
        content_type="application/json",
        api_version="v7.20230615",
    )
    headers = {
        "authorization": authorization_header(access_key, signature),
        "date": now.isoformat(),
        "content-type": "application/json",
        "x-backendai-version": "v7.20230615",
    }
    http = authz.AttributeContext.HttpRequest(
        method="GET", path="/v1/identity", host=HOST, headers=headers
    )
    return authz.CheckRequest(
        attributes=authz.AttributeContext(request=authz.AttributeContext.Request(http=http))
    )


async def _round(a: grpc.aio.Channel, b: grpc.aio.Channel, user_id: str) -> float:
    keys = kpb_grpc.KeypairServiceStub(a)
    issued = await keys.CreateKeypair(kpb.CreateKeypairRequest(user_id=user_id), metadata=SYSTEM)
    key, secret = issued.keypair.access_key, issued.secret_key
    check = authz_grpc.AuthorizationStub(b).Check
    if (await check(_check_request(key, secret))).HasField("denied_response"):
        raise RuntimeError("replica B refused a fresh keypair")
    await keys.UpdateKeypair(
        kpb.UpdateKeypairRequest(
            keypair=kpb.Keypair(user_id=user_id, access_key=key),
            update_mask=field_mask_pb2.FieldMask(paths=["is_active"]),
        ),
        metadata=SYSTEM,
    )
    started = time.perf_counter()
    while not (await check(_check_request(key, secret))).HasField("denied_response"):
        if time.perf_counter() - started > 10:
            raise RuntimeError("replica B still accepts the keypair after 10 s")
        await asyncio.sleep(0.002)
    return (time.perf_counter() - started) * 1000


async def main(rounds: int) -> None:
    name = f"shipyard_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_PG)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    settings = Settings(
        internal_token=SecretStr(TOKEN),
        database_url=url,
        redis_url=REDIS,
        redis_prefix=f"bench:{secrets.token_hex(4)}:",
        bind="127.0.0.1:0",
        authz_bind="127.0.0.1:0",
        secret_key_encryption_key=SecretStr(new_key_text()),
    )
    servers: list[AuthServer] = []
    try:
        servers = [
            await serve(settings),
            await serve(settings.model_copy(update={"migrate": False})),
        ]
        await asyncio.wait_for(servers[1].tenancy.revocations.ready.wait(), 5)
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{servers[0].port}") as a,
            grpc.aio.insecure_channel(f"127.0.0.1:{servers[1].port}") as b,
        ):
            user = await upb_grpc.UserServiceStub(a).CreateUser(
                upb.CreateUserRequest(
                    user=upb.User(email="bench@example.com", domain_name="default"),
                    password="bench password",
                ),
                metadata=SYSTEM,
            )
            times = [await _round(a, b, user.user.user_id) for _ in range(rounds)]
        print(f"revocation across replicas, {rounds} rounds (ms until replica B refuses):")
        print(
            f"  p50 {statistics.median(times):.1f}  max {max(times):.1f}"
            f"  mean {statistics.fmean(times):.1f}"
        )
    finally:
        for server in servers:
            await server.stop(grace=0.5)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(parser.parse_args().rounds))
