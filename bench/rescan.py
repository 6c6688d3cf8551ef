"""Rescan a real docker-registry holding N tags through the registry service; print the time.

    .venv/bin/python -m bench.rescan [--tags 200] [--concurrency 4]

It starts Debian's docker-registry on a free port, pushes one small image with skopeo, tags it
N times (half of them as two-architecture indexes), starts the registry service on its own
database and times RescanContainerRegistry until its task ends.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import grpc
import httpx
from shipyard.registry.v1 import container_registry_service_pb2 as cr_pb
from shipyard.registry.v1 import container_registry_service_pb2_grpc as cr_grpc

from libs.core.identity import HEADER_INTERNAL_TOKEN, HEADER_SYSTEM
from services.registry.app import serve
from services.registry.config import Settings
from tests.conftest import REDIS_URL, create_database, drop_database
from tests.integration.images.oci_images import KERNEL_LABELS, OCI_INDEX, build_layout, push
from tests.integration.images.registry_server import start_registry

TOKEN = "bench-internal-token"


async def _tag(base: str, repository: str, source: str, count: int) -> None:
    """Give the pushed manifest `count` more tags (a PUT of the same manifest under each)."""
    async with httpx.AsyncClient() as http:
        reply = await http.get(
            f"{base}/v2/{repository}/manifests/{source}", headers={"Accept": OCI_INDEX}
        )
        reply.raise_for_status()
        headers = {"Content-Type": reply.headers["content-type"]}
        for i in range(count):
            put = await http.put(
                f"{base}/v2/{repository}/manifests/t{i}", content=reply.content, headers=headers
            )
            put.raise_for_status()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-rescan-"))
    server = start_registry(work)
    db_name, database_url = await create_database()
    try:
        build_layout(work / "layout", {"x": (["amd64", "arm64"], KERNEL_LABELS)})
        push(work / "layout", "x", f"{server.host}/bench/img:base")
        await _tag(server.url, "bench/img", "base", args.tags - 1)
        registry = await serve(
            Settings(
                internal_token=TOKEN,  # type: ignore[arg-type]
                database_url=database_url,
                redis_url=REDIS_URL,
                redis_prefix=f"bench:{secrets.token_hex(4)}:",
                bind="127.0.0.1:0",
                rescan_concurrency=args.concurrency,
            )
        )
        meta = ((HEADER_INTERNAL_TOKEN, TOKEN), (HEADER_SYSTEM, "1"))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{registry.port}") as channel:
            stub = cr_grpc.ContainerRegistryServiceStub(channel)
            await stub.CreateContainerRegistry(
                cr_pb.CreateContainerRegistryRequest(
                    container_registry=cr_pb.ContainerRegistry(name=server.host, url=server.url)
                ),
                metadata=meta,
            )
            t0 = time.perf_counter()
            task = (
                await stub.RescanContainerRegistry(
                    cr_pb.RescanContainerRegistryRequest(name=server.host), metadata=meta
                )
            ).task
            while task.state == cr_pb.RescanTask.STATE_RUNNING:
                await asyncio.sleep(0.05)
                task = (
                    await stub.GetRescanTask(
                        cr_pb.GetRescanTaskRequest(task_id=task.task_id), metadata=meta
                    )
                ).task
            elapsed = time.perf_counter() - t0
        await registry.stop()
        print(
            f"rescan of {task.total} tags ({task.updated} images, 2 architectures each, "
            f"concurrency {args.concurrency}): {elapsed:.2f} s, {task.total / elapsed:.0f} tags/s, "
            f"state {cr_pb.RescanTask.State.Name(task.state)}"
        )
    finally:
        server.stop()
        await drop_database(db_name)


if __name__ == "__main__":
    asyncio.run(main())
