"""CPU per ext_authz Check inside auth, without sockets: signature only vs signature + the Redis
request gate (replay cache + rate limit, one Lua call), the two halves of the edge's Python hop.

    .venv/bin/python -m bench.authz_check [--checks 5000] [--concurrency 16]

Needs the local Redis (SHIPYARD_TEST_REDIS_URL or redis://127.0.0.1:6379/0). Keypair lookups
come from memory, as the cache serves them on the hot path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from datetime import UTC, datetime

from envoy_ext_authz.v3 import external_auth_pb2 as authz
from redis.asyncio import Redis

from libs.core.identity import Role
from libs.core.signing import DEFAULT_API_VERSION, authorization_header, sign
from services.auth.adapters.request_gate import RedisRequestGate
from services.auth.api.ext_authz import AuthorizationServicer
from services.auth.domain.model import GateOutcome, KeypairOwner, UserStatus
from services.auth.service.admission import SignedRequestAdmission
from services.auth.service.ports import RequestGate
from services.auth.service.verify import RequestVerifier

HOST = "127.0.0.1:8090"
OWNER = KeypairOwner(
    access_key="AKBENCHCHECK00000000",
    secret_key=secrets.token_urlsafe(30)[:40],
    keypair_active=True,
    user_id="00000000-0000-0000-0000-000000000001",
    user_status=UserStatus.ACTIVE,
    role=Role.USER,
    domain_name="default",
    email="bench@example.com",
    project_ids=(),
    rate_limit=10**9,  # the limiter is measured, never hit
)


class _Keypairs:
    async def find(self, access_key: str) -> KeypairOwner | None:
        return OWNER if access_key == OWNER.access_key else None


class _Usage:
    def touch(self, access_key: str, at: datetime) -> None:
        pass


class _OpenGate:
    """What Check did before: no replay cache, no rate limit."""

    async def admit(self, **_: object) -> GateOutcome:
        return GateOutcome(replayed=False, allowed=True, remaining=1)


def _requests(count: int, now: datetime) -> list[authz.CheckRequest]:
    out = []
    for i in range(count):
        path = f"/v1/identity?n={i}"  # each request its own signature
        signature = sign(
            secret_key=OWNER.secret_key, method="GET", rel_url=path, date=now, host=HOST,
            content_type="application/octet-stream", api_version=DEFAULT_API_VERSION,
        )  # fmt: skip
        headers = {
            "authorization": authorization_header(OWNER.access_key, signature),
            "date": now.isoformat(),
            "x-backendai-version": DEFAULT_API_VERSION,
        }
        http = authz.AttributeContext.HttpRequest(
            method="GET", path=path, host=HOST, headers=headers
        )
        out.append(
            authz.CheckRequest(
                attributes=authz.AttributeContext(request=authz.AttributeContext.Request(http=http))
            )
        )
    return out


async def _run(gate: RequestGate, count: int, concurrency: int) -> float:
    """CPU microseconds per Check."""
    now = datetime.now(UTC)
    verifier = RequestVerifier(keypairs=_Keypairs(), usage=_Usage(), clock=lambda: now)
    servicer = AuthorizationServicer(
        SignedRequestAdmission(verifier=verifier, gate=gate, clock=lambda: now)
    )
    requests = _requests(count, now)
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < count:
            request, position = requests[position], position + 1
            response = await servicer.Check(request, None)  # type: ignore[arg-type]  # unused
            if response.status.code != 0:
                raise RuntimeError(f"denied: {response}")

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / count * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    redis = Redis.from_url(os.environ.get("SHIPYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    gate = RedisRequestGate(redis, prefix=f"bench:{secrets.token_hex(3)}:")
    try:
        await _run(_OpenGate(), 500, args.concurrency)  # warm-up
        await _run(gate, 500, args.concurrency)
        before = await _run(_OpenGate(), args.checks, args.concurrency)
        after = await _run(gate, args.checks, args.concurrency)
    finally:
        await redis.aclose()
    print(f"{args.checks} Checks, concurrency {args.concurrency}, CPU per Check:")
    print(f"  signature only (before):               {before:6.0f} us")
    print(f"  + replay cache + rate limit (after):   {after:6.0f} us  (+{after - before:.0f} us)")


if __name__ == "__main__":
    asyncio.run(main())
