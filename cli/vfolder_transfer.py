"""`shipyard vfolder upload|download`: big files over the edge's gRPC streams, resumable.

An upload asks the storage service how much of an interrupted upload of the same file it holds
and sends only the rest; a download writes to `<file>.part` and continues from its length, then
renames it. Dropped connections are retried from the stored offset a few times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO

import grpc
from shipyard.storage.v1 import file_service_pb2 as fpb
from shipyard.storage.v1 import file_service_pb2_grpc as fpb_grpc

from cli.client import ShipyardClient
from cli.grpc_signing import signed_channel
from cli.vfolder_files import ClientFactory, folder_id

CHUNK = 2 * 1024 * 1024  # the most an upload message may carry
RETRIES = 3
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class Progress:
    """One status line on stderr: bytes so far of the total, percentage and rate."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.total, self.done, self._start = total, start, start
        self._t0 = time.monotonic()
        self._shown = 0.0
        self._enabled = enabled

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self._enabled and (now - self._shown > 0.2 or self.done >= self.total):
            self._shown = now
            rate = (self.done - self._start) / max(now - self._t0, 1e-6) / 2**20
            pct = 100.0 * self.done / self.total if self.total else 100.0
            print(
                f"\r{self.done}/{self.total} bytes ({pct:5.1f}%) {rate:8.1f} MiB/s",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def end(self) -> None:
        if self._enabled:
            print(file=sys.stderr)


def edge_channel(client: ShipyardClient) -> grpc.aio.Channel:
    """A gRPC channel to the same edge as `client`, its calls signed with the keypair."""
    access, secret = client.keypair
    if not (access and secret):
        raise SystemExit(
            "uploads and downloads sign gRPC calls with a keypair: "
            "pass --access-key/--secret-key (or SHIPYARD_ACCESS_KEY/SHIPYARD_SECRET_KEY)"
        )
    return signed_channel(client.host, access, secret, tls=client.tls, ca_file=client.ca_file)


async def _chunks(
    source: BinaryIO, header: fpb.UploadHeader, progress: Progress
) -> AsyncIterator[fpb.UploadRequest]:
    yield fpb.UploadRequest(header=header)
    source.seek(header.offset)
    while data := source.read(CHUNK):
        yield fpb.UploadRequest(chunk=data)
        progress.add(len(data))


async def upload_file(
    files: fpb_grpc.FileServiceStub,
    folder: str,
    local: Path,
    remote: str,
    *,
    overwrite: bool = False,
    show_progress: bool = False,
) -> int:
    """Upload `local` to `remote` in `folder`, resuming a previous attempt; the bytes sent."""
    size = (await asyncio.to_thread(local.stat)).st_size
    sent = 0
    for attempt in range(RETRIES + 1):
        if attempt == 0 and size <= CHUNK:
            offset = 0  # one message: nothing worth resuming, save the round trip
        else:
            stored = await files.GetUploadOffset(
                fpb.GetUploadOffsetRequest(vfolder_id=folder, path=remote, size=size)
            )
            offset = int(stored.offset)
        if offset and attempt == 0 and show_progress:
            print(f"resuming at byte {offset}", file=sys.stderr)
        header = fpb.UploadHeader(
            vfolder_id=folder, path=remote, size=size, offset=offset, overwrite=overwrite
        )
        progress = Progress(size, offset, show_progress)
        try:
            with local.open("rb") as source:
                done = await files.Upload(_chunks(source, header, progress))
        except grpc.aio.AioRpcError as exc:
            progress.end()
            if exc.code() not in _RETRYABLE or attempt == RETRIES:
                raise
            continue
        progress.end()
        sent += int(done.offset) - offset
        if done.complete:
            return sent
    raise RuntimeError("the upload did not complete")


async def download_file(
    files: fpb_grpc.FileServiceStub,
    folder: str,
    remote: str,
    local: Path,
    *,
    show_progress: bool = False,
) -> int:
    """Download `remote` to `local` via `<local>.part` (continued if present); the file size."""
    partial = local.with_name(local.name + ".part")
    for attempt in range(RETRIES + 1):
        offset = partial.stat().st_size if partial.exists() else 0
        if offset and attempt == 0 and show_progress:
            print(f"resuming at byte {offset}", file=sys.stderr)
        progress: Progress | None = None
        try:
            with partial.open("ab") as sink:
                call = files.Download(
                    fpb.DownloadRequest(vfolder_id=folder, path=remote, offset=offset)
                )
                size = offset
                async for message in call:
                    if progress is None:
                        size = int(message.size)
                        progress = Progress(size, offset, show_progress)
                    if message.chunk:
                        sink.write(message.chunk)
                        progress.add(len(message.chunk))
                sink.flush()
                os.fsync(sink.fileno())
        except grpc.aio.AioRpcError as exc:
            if progress:
                progress.end()
            if exc.code() not in _RETRYABLE or attempt == RETRIES:
                raise
            continue
        if progress:
            progress.end()
        if partial.stat().st_size == size:
            partial.replace(local)
            return size
    raise RuntimeError("the download did not complete")


async def _upload(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    local = Path(args.local)
    remote = args.remote or local.name
    async with edge_channel(client) as channel:
        await upload_file(
            fpb_grpc.FileServiceStub(channel),
            folder,
            local,
            remote,
            overwrite=args.overwrite,
            show_progress=not args.quiet,
        )


async def _download(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    local = Path(args.local or Path(args.remote).name)
    async with edge_channel(client) as channel:
        await download_file(
            fpb_grpc.FileServiceStub(channel),
            folder,
            args.remote,
            local,
            show_progress=not args.quiet,
        )


async def _usage(args: argparse.Namespace, client: ShipyardClient) -> None:
    folder = await folder_id(client, args.folder)
    got = await client.request("GET", f"/v1/vfolders/{folder}/usage")
    print(f"{int(got.get('used_bytes', 0))} bytes in {int(got.get('file_count', 0))} entries")


async def _quota(args: argparse.Namespace, client: ShipyardClient) -> None:
    """Show a quota scope (default: the caller's own), or with --set change its limit."""
    scope = args.scope or f"user:{(await client.whoami())['user_id']}"
    if args.set is not None:
        body = {"volume": args.volume, "scope_id": scope, "limit_bytes": args.set}
        got = (await client.request("POST", "/v1/quota-scopes", body=body))["quota_scope"]
    else:
        params = {"volume": args.volume, "scope_id": scope}
        got = (await client.request("GET", "/v1/quota-scopes", params=params))["quota_scope"]
    limit = int(got.get("limit_bytes", 0))
    print(
        f"{got['scope_id']} on {got['volume']}: {int(got.get('used_bytes', 0))} bytes used "
        f"of {limit if limit else 'unlimited'}"
    )


async def _clone(args: argparse.Namespace, client: ShipyardClient) -> None:
    """Start a clone and follow its task until it settles (unless --no-wait)."""
    folder = await folder_id(client, args.folder)
    body = {"name": args.name, "volume": args.volume}
    task = (await client.request("POST", f"/v1/vfolders/{folder}:clone", body=body))["task"]
    print(f"task {task['task_id']}: cloning into {task['target_vfolder_id']}", file=sys.stderr)
    while not args.no_wait and task.get("state") == "V_FOLDER_TASK_STATE_RUNNING":
        await asyncio.sleep(0.5)
        task = (await client.request("GET", f"/v1/vfolder-tasks/{task['task_id']}"))["task"]
        if not args.quiet:
            print(
                f"\r{int(task.get('files_copied', 0))} entries, "
                f"{int(task.get('bytes_copied', 0))} bytes copied",
                end="",
                file=sys.stderr,
                flush=True,
            )
    if not args.quiet and not args.no_wait:
        print(file=sys.stderr)
    state = str(task.get("state", "")).removeprefix("V_FOLDER_TASK_STATE_").lower()
    print(f"{task['target_vfolder_id']}  {args.name}  {state}  {task.get('error', '')}".rstrip())
    if state == "failed":
        raise SystemExit(1)


async def _volumes(_args: argparse.Namespace, client: ShipyardClient) -> None:
    for v in (await client.request("GET", "/v1/volumes")).get("volumes", []):
        mark = " (default)" if v.get("is_default") else ""
        caps = ",".join(v.get("capabilities", []))
        print(
            f"{v['name']}{mark}  {v['backend']}  {int(v.get('used_bytes', 0))}/"
            f"{int(v.get('capacity_bytes', 0))} bytes  [{caps}]"
        )


def register(vfolder: argparse._SubParsersAction, make_client: ClientFactory) -> None:  # type: ignore[type-arg]
    """Add `upload`, `download`, `usage`, `quota`, `clone` and `volumes` under `vfolder`."""

    def add(
        name: str, handler: Callable[..., Any], help_text: str, *, on_folder: bool = True
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = vfolder.add_parser(name, help=help_text)
        if on_folder:
            parser.add_argument("folder", help="folder id or name")

        async def run(args: argparse.Namespace) -> int:
            async with make_client(args) as client:
                await handler(args, client)
            return 0

        parser.set_defaults(func=run)
        return parser

    p = add("upload", _upload, "upload a file (run it again to resume an interrupted one)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.add_argument("local", help="the file to send")
    p.add_argument("remote", nargs="?", help="its path in the folder (default: its name)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p = add("download", _download, "download a file (run it again to resume)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.add_argument("remote", help="the file's path in the folder")
    p.add_argument("local", nargs="?", help="where to write it (default: its name, here)")
    add("usage", _usage, "bytes and entries a folder holds")
    p = add("quota", _quota, "a quota scope's limit and usage", on_folder=False)
    p.add_argument("--scope", help='"user:<id>" or "project:<id>" (default: your own)')
    p.add_argument("--volume", default="", help="default: the default volume")
    p.add_argument("--set", type=int, metavar="BYTES", help="set the limit (superadmins; 0: none)")
    p = add("clone", _clone, "copy a folder into a new one of yours, following the progress")
    p.add_argument("name", help="the new folder's name")
    p.add_argument("--volume", default="", help="default: the source's volume")
    p.add_argument("--no-wait", action="store_true", help="start it and print the task")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add("volumes", _volumes, "the storage volumes with capacity", on_folder=False)
