"""Fuzz the HTTP edge: schemathesis cases from the protos' OpenAPI description, signed, sent.

    .venv/bin/python -m bench.fuzz_edge --requests 10000 [--seed N] [--concurrency 8]

Starts its own platform (as `shipyard up` does: free ports, its own database) unless
--endpoint/--access-key/--secret-key name a running one. Cases come from schemathesis over
`build/openapi.json` (scripts/openapi.py), positive (within the declared bounds) and negative
(outside them), and a share of them is mutated the way hostile clients do (`fuzz_cases.py`).
Every case is sent signed, alternately as the superadmin and as an ordinary user. The run
passes when no response is a 5xx and the platform still works afterwards (every service alive,
a folder created and listed, sessions listed). Last lines: `requests: N`, `5xx: K`,
`state: intact|BROKEN`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from bench.bench_platform import bench_platform
from bench.fuzz_cases import OPENAPI, Request, generate
from cli.client import ShipyardClient
from cli.platform import Platform


@dataclass
class Report:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # one line per distinct 5xx

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)


def _signed(client: ShipyardClient, request: Request) -> tuple[dict[str, str], bytes | None]:
    content_type = "application/json" if request.body is not None else "application/octet-stream"
    headers = client.signed_headers(request.method, request.path, content_type)
    if request.body is None:
        return headers, None
    headers["Content-Type"] = content_type
    if isinstance(request.body, bytes):
        return headers, request.body
    return headers, json.dumps(request.body, default=str).encode()


async def send_all(
    endpoint: str, clients: list[ShipyardClient], requests: list[Request], concurrency: int
) -> Report:
    report = Report()
    seen: set[tuple[str, str, int]] = set()
    queue: Iterator[tuple[int, Request]] = iter(enumerate(requests))

    async with httpx.AsyncClient(base_url=endpoint.rstrip("/"), timeout=60) as http:

        async def worker() -> None:
            for i, request in queue:
                headers, content = _signed(clients[i % len(clients)], request)
                try:
                    reply = await http.request(
                        request.method, request.path, headers=headers, content=content
                    )
                    status = reply.status_code
                    text = reply.text[:300]
                except httpx.HTTPError as exc:
                    status, text = 599, f"transport error: {exc!r}"
                report.sent += 1
                report.statuses[status] += 1
                key = (request.method, request.path.split("?")[0][:80], status)
                if status >= 500 and key not in seen:
                    seen.add(key)
                    body = (
                        "" if request.body is None else json.dumps(request.body, default=str)[:300]
                    )
                    report.failures.append(
                        f"{status} {request.method} {request.path[:200]} {body} -> {text}"
                    )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return report


async def state_intact(root: ShipyardClient) -> list[str]:
    """What no longer works after the run (empty: everything checked still does)."""
    problems: list[str] = []
    name = f"fuzz-check-{secrets.token_hex(3)}"
    try:
        await root.whoami()
        folder = await root.create_vfolder(name)
        listed = await root.list_vfolders()
        if not any(f.get("name") == name for f in listed):
            problems.append("a new folder is not listed")
        await root.delete_vfolder(folder["vfolder_id"])
        await root.list_sessions()
        await root.list_agents()
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    return problems


async def run(
    endpoint: str, keys: list[tuple[str, str]], count: int, seed: int, concurrency: int
) -> tuple[Report, list[str]]:
    requests = generate(count, seed)
    clients = [ShipyardClient(endpoint, ak, sk) for ak, sk in keys]
    try:
        report = await send_all(endpoint, clients, requests, concurrency)
        return report, await state_intact(clients[0])
    finally:
        for client in clients:
            await client.close()


def print_report(report: Report, problems: list[str], platform: Platform | None = None) -> None:
    for line in report.failures:
        print("5xx:", line)
    for code, n in sorted(report.statuses.items()):
        print(f"  HTTP {code}: {n}")
    if platform is not None:
        for name, proc in platform.processes.items():
            if proc.returncode is not None:
                problems.append(f"{name} exited with {proc.returncode}")
    for problem in problems:
        print("broken:", problem)
    print(f"requests: {report.sent}")
    print(f"5xx: {report.server_errors}")
    if report.sent == 0:
        problems.append("no request was sent")
    print(f"state: {'intact' if not problems else 'BROKEN'}")


async def _ordinary_user(platform: Platform) -> tuple[str, str]:
    assert platform.keypair is not None
    keys = platform.keypair
    async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as root:
        projects = await root.request("GET", "/v1/projects", params={"page_size": 1000})
        project = projects["projects"][0]
        user = (
            await root.request(
                "POST",
                "/v1/users",
                body={
                    "user": {
                        "email": f"fuzz-{secrets.token_hex(4)}@example.com",
                        "domain_name": project["domain_name"],
                        "role": "ROLE_USER",
                    },
                    "password": secrets.token_urlsafe(16),
                    "project_ids": [project["project_id"]],
                },
            )
        )["user"]
        issued = await root.request("POST", f"/v1/users/{user['user_id']}/keypairs", body={})
    return issued["keypair"]["access_key"], issued["secret_key"]


async def main() -> int:
    parser = argparse.ArgumentParser(description="fuzz the HTTP edge")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--endpoint")
    parser.add_argument("--access-key")
    parser.add_argument("--secret-key")
    args = parser.parse_args()
    if not OPENAPI.exists():
        sys.exit("build/openapi.json is missing: run .venv/bin/python scripts/openapi.py")
    if args.endpoint:
        report, problems = await run(
            args.endpoint,
            [(args.access_key, args.secret_key)],
            args.requests,
            args.seed,
            args.concurrency,
        )
        print_report(report, problems)
        return 0 if report.server_errors == 0 and not problems else 1
    async with bench_platform(
        prefix="shipyard_fuzz", redis_prefix=f"fuzz:{secrets.token_hex(3)}:"
    ) as platform:
        assert platform.keypair is not None
        keys = [(platform.keypair.access_key, platform.keypair.secret_key)]
        keys.append(await _ordinary_user(platform))
        report, problems = await run(
            platform.endpoint, keys, args.requests, args.seed, args.concurrency
        )
        print_report(report, problems, platform)
    return 0 if report.server_errors == 0 and not problems else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
