from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from shipyard.storage.v1 import file_service_pb2_grpc
from shipyard.storage.v1 import vfolder_service_pb2_grpc as pb_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.core.identity import HEADER_INTERNAL_TOKEN, HEADER_SYSTEM, Caller, caller_to_headers
from libs.db.engine import create_engine
from services.storage.app import StorageServer, serve
from services.storage.config import Settings

pytestmark = pytest.mark.integration


@dataclass
class Running:
    server: StorageServer
    volume_root: Path
    vfolders: pb_grpc.VFolderServiceStub
    mounts: pb_grpc.MountServiceStub
    files: file_service_pb2_grpc.FileServiceStub
    engine: AsyncEngine
    internal_token: str

    def as_caller(self, caller: Caller) -> tuple[tuple[str, str], ...]:
        """What Envoy forwards after authentication: the internal token and identity headers."""
        return ((HEADER_INTERNAL_TOKEN, self.internal_token), *caller_to_headers(caller).items())

    def as_system(self) -> tuple[tuple[str, str], ...]:
        """A peer service: the internal token and the explicit system marker."""
        return ((HEADER_INTERNAL_TOKEN, self.internal_token), (HEADER_SYSTEM, "1"))


@pytest.fixture(scope="module")
async def storage(database_url, internal_token, tmp_path_factory) -> AsyncIterator[Running]:
    root = tmp_path_factory.mktemp("volumes") / "local"
    settings = Settings(
        internal_token=internal_token,
        database_url=database_url,
        bind="127.0.0.1:0",
        http_bind="127.0.0.1:0",
        folder_policy=False,  # no auth here
        volume_root=root,
    )
    server = await serve(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    engine = create_engine(database_url, pool_size=1)
    try:
        yield Running(
            server=server,
            volume_root=root,
            vfolders=pb_grpc.VFolderServiceStub(channel),
            mounts=pb_grpc.MountServiceStub(channel),
            files=file_service_pb2_grpc.FileServiceStub(channel),
            engine=engine,
            internal_token=internal_token,
        )
    finally:
        await engine.dispose()
        await channel.close()
        await server.stop(grace=0)
