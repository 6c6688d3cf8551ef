"""Upload and download one large file and many small ones through the edge's gRPC streams, and
compare the throughput with a local copy of the same bytes on the same filesystem.

    .venv/bin/python -m bench.storage [--size 1GiB] [--small-count 10000] [--small-size 4KiB]

It starts its own platform (free ports, its own database) in a temporary directory, which also
holds the local copies, so the volume and the baseline share a filesystem. Baselines: `dd bs=4M
conv=fsync` for the large file, `cp -r` then `sync` for the small ones (no reflinks). A ratio is
the baseline's time over the transfer's (1.0: as fast as the local copy). The last four lines
are the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from shipyard.storage.v1 import file_service_pb2_grpc as fpb_grpc

from bench.bench_platform import bench_platform, superadmin_client
from cli.client import ShipyardClient
from cli.grpc_signing import signed_channel
from cli.vfolder_transfer import download_file, upload_file

_UNITS = {"": 1, "B": 1, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([KMG]iB|B)?", text.strip(), flags=re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 512MiB, 4KiB)")
    return int(match.group(1)) * _UNITS[(match.group(2) or "").upper()]


def _timed_run(*argv: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t0


async def _timed(work: Callable[[], Awaitable[object]]) -> float:
    t0 = time.perf_counter()
    await work()
    return time.perf_counter() - t0


def _write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, 4 * 1024 * 1024)
            out.write(os.urandom(n))
            left -= n


async def run(
    client: ShipyardClient, work: Path, size: int, count: int, small: int, concurrency: int
) -> None:
    access, secret = client.keypair
    folder = (await client.create_vfolder(f"bench-{secrets.token_hex(3)}"))["vfolder_id"]
    files_url = f"/v1/vfolders/{folder}/files"
    big = work / "large.bin"
    _write_random(big, size)
    small_dir = work / "small"
    small_dir.mkdir()
    for i in range(count):
        (small_dir / f"f{i:05d}").write_bytes(os.urandom(small))
    _timed_run("sync")

    dd = _timed_run(
        "dd", f"if={big}", f"of={work / 'large.copy'}", "bs=4M", "conv=fsync", "status=none"
    )
    cp = _timed_run("sh", "-c", f"cp -r --reflink=never {small_dir} {work / 'small.copy'} && sync")
    print(f"large file: {size} bytes; local dd: {dd:.2f} s ({size / dd / 2**20:.0f} MiB/s)")
    print(f"small files: {count} x {small} bytes; local cp -r + sync: {cp:.2f} s")

    async with signed_channel(client.host, access, secret) as channel:
        files = fpb_grpc.FileServiceStub(channel)
        up = await _timed(lambda: upload_file(files, folder, big, "large.bin"))
        down_path = work / "large.down"
        down = await _timed(lambda: download_file(files, folder, "large.bin", down_path))
        print(f"large upload: {up:.2f} s ({size / up / 2**20:.0f} MiB/s)")
        print(f"large download: {down:.2f} s ({size / down / 2**20:.0f} MiB/s)")

        await client.request("POST", files_url + ":mkdir", body={"path": "small"})
        names = sorted(p.name for p in small_dir.iterdir())
        gate = asyncio.Semaphore(concurrency)
        (work / "small.down").mkdir()

        async def put(name: str) -> None:
            async with gate:
                await upload_file(files, folder, small_dir / name, f"small/{name}")

        async def get(name: str) -> None:
            async with gate:
                await download_file(files, folder, f"small/{name}", work / "small.down" / name)

        async def all_of(one: Callable[[str], Awaitable[None]]) -> None:
            await asyncio.gather(*(one(n) for n in names))

        small_up = await _timed(lambda: all_of(put))
        small_down = await _timed(lambda: all_of(get))
        print(f"small upload: {small_up:.2f} s ({count / small_up:.0f} files/s)")
        print(f"small download: {small_down:.2f} s ({count / small_down:.0f} files/s)")

    if down_path.read_bytes() != big.read_bytes():
        raise RuntimeError("the downloaded large file differs from the uploaded one")
    print(f"large upload ratio: {dd / up:.2f}")
    print(f"large download ratio: {dd / down:.2f}")
    print(f"small upload ratio: {cp / small_up:.2f}")
    print(f"small download ratio: {cp / small_down:.2f}")


async def _bench_keypair(admin: ShipyardClient) -> tuple[str, str]:
    """A keypair of the admin whose request budget fits 20,000 transfers in one window."""
    me = await admin.whoami()
    issued = await admin.request(
        "POST", f"/v1/users/{me['user_id']}/keypairs", body={"rate_limit": 1_000_000}
    )
    return issued["keypair"]["access_key"], issued["secret_key"]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=parse_size, default=parse_size("1GiB"))
    parser.add_argument("--small-count", type=int, default=10_000)
    parser.add_argument("--small-size", type=parse_size, default=parse_size("4KiB"))
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    parent = os.environ.get("BENCH_DIR")
    async with bench_platform(parent=parent) as platform:
        with tempfile.TemporaryDirectory(dir=parent) as work_dir:
            work = Path(work_dir)
            try:
                async with superadmin_client(platform) as admin:
                    access, secret = await _bench_keypair(admin)
                async with ShipyardClient(platform.endpoint, access, secret) as client:
                    await run(
                        client,
                        work,
                        args.size,
                        args.small_count,
                        args.small_size,
                        args.concurrency,
                    )
            except grpc.aio.AioRpcError as exc:
                raise SystemExit(f"transfer failed: {exc.code().name}: {exc.details()}") from None


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
