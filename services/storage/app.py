"""Composition root: settings → migrations, engine, volume → use cases → gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from shipyard.storage.v1 import (
    file_service_pb2,
    file_service_pb2_grpc,
    sharing_service_pb2,
    sharing_service_pb2_grpc,
    vfolder_task_service_pb2,
    vfolder_task_service_pb2_grpc,
)
from shipyard.storage.v1 import vfolder_service_pb2 as pb
from shipyard.storage.v1 import vfolder_service_pb2_grpc as pb_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.db.engine import create_engine, session_factory
from libs.db.migrate import upgrade
from libs.grpcutil.runner import run_service
from libs.grpcutil.server import GrpcServer, Registration, create_server
from libs.grpcutil.tls import http_server_context
from services.storage.adapters.auth_policies import GrpcFolderPolicies
from services.storage.adapters.auth_users import GrpcUserDirectory
from services.storage.adapters.folder_files import LocalFolderFiles
from services.storage.adapters.quota_repository import SqlQuotaStore
from services.storage.adapters.registry_mounts import GrpcMountedFolders
from services.storage.adapters.repository import SqlUnitOfWork
from services.storage.adapters.tables import SCHEMA
from services.storage.adapters.task_repository import SqlTaskStore
from services.storage.adapters.transfers import LocalTransfers
from services.storage.adapters.tree_copy import CopyProgress, LocalTreeCopier
from services.storage.adapters.volume_config import build_volume, parse_volumes
from services.storage.api.file_servicer import FileServicer
from services.storage.api.http_transfers import build_app
from services.storage.api.servicer import MountServicer, VFolderServicer
from services.storage.api.sharing_servicer import SharingServicer
from services.storage.api.task_servicer import VFolderTaskServicer
from services.storage.config import Settings
from services.storage.service.clone import CloneVFolders
from services.storage.service.create import CreateVFolder, utc_now
from services.storage.service.delete import DeleteVFolder, TrashSweeper
from services.storage.service.files import FileOperations
from services.storage.service.limits import FolderLimits
from services.storage.service.listing import ListVFolders
from services.storage.service.mount_gate import MountGate
from services.storage.service.ports import UnitOfWork
from services.storage.service.quotas import QuotaScopes
from services.storage.service.resolve_mounts import ResolveMounts
from services.storage.service.sharing import VFolderSharing
from services.storage.service.transfers import Transfers
from services.storage.service.update import UpdateVFolder
from services.storage.service.volume_info import VolumeInfo
from services.storage.service.volumes import Volumes
from services.storage.service.watch_task import WatchVFolderTask

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"
ERROR_DOMAIN = "storage.shipyard"


@dataclass(slots=True)
class StorageServer:
    grpc: GrpcServer
    engine: AsyncEngine
    users: GrpcUserDirectory
    policies: GrpcFolderPolicies
    mounted: GrpcMountedFolders | None
    sweeper: asyncio.Task[None]
    transfers: Transfers  # its `verify` checks the tokens it issued
    clones: CloneVFolders
    http: web.AppRunner | None = None  # the HTTP transfer endpoints
    http_port: int = 0

    @property
    def port(self) -> int:
        return self.grpc.port

    async def stop(self, grace: float = 5.0) -> None:
        self.sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.sweeper
        if self.http is not None:
            await self.http.cleanup()
        await self.grpc.stop(grace)
        await self.clones.stop()
        await self.users.close()
        await self.policies.close()
        if self.mounted is not None:
            await self.mounted.close()
        await self.engine.dispose()


async def serve(settings: Settings) -> StorageServer:
    """Migrate (unless disabled), prepare the volume and start serving."""
    if settings.migrate:
        await upgrade(settings.database_url, MIGRATIONS, SCHEMA)
    specs = parse_volumes(settings.volumes, name=settings.volume_name, root=settings.volume_root)
    backends = [build_volume(spec) for spec in specs]
    for backend in backends:
        await backend.ensure_root()
    volumes = Volumes(backends, default=settings.default_volume or backends[0].name)
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    sessions = session_factory(engine)

    def uow() -> UnitOfWork:
        return SqlUnitOfWork(sessions)

    quota_store = SqlQuotaStore(sessions)
    quotas = QuotaScopes(store=quota_store, volumes=volumes)
    policies = GrpcFolderPolicies(
        settings.auth_addr, settings.internal_token.get_secret_value(), settings.mtls()
    )
    limits = FolderLimits(policies=policies, store=quota_store) if settings.folder_policy else None
    mounted = (
        GrpcMountedFolders(
            settings.registry_addr, settings.internal_token.get_secret_value(), settings.mtls()
        )
        if settings.registry_addr
        else None
    )
    gate = MountGate(mounted) if mounted is not None else None
    folder_files = LocalFolderFiles()
    file_operations = FileOperations(uow=uow, volumes=volumes, files=folder_files)
    clones = CloneVFolders(
        uow=uow,
        files=file_operations,
        volumes=volumes,
        tasks=SqlTaskStore(sessions),
        copier=LocalTreeCopier(),
        new_progress=CopyProgress,
        quotas=quotas,
        limits=limits,
    )
    interrupted = await clones.recover()
    if interrupted:
        log.warning("%d clone tasks were interrupted by the last stop: failed", interrupted)
    vfolder_servicer = VFolderServicer(
        create=CreateVFolder(uow=uow, volumes=volumes, limits=limits),
        list_=ListVFolders(uow=uow, gate=gate),
        update=UpdateVFolder(uow=uow, gate=gate),
        delete=DeleteVFolder(uow=uow, volumes=volumes, gate=gate),
        info=VolumeInfo(volumes=volumes, files=file_operations),
        quotas=quotas,
        clones=clones,
    )
    mount_servicer = MountServicer(
        resolve=ResolveMounts(uow=uow, volumes=volumes, files=folder_files)
    )
    users = GrpcUserDirectory(
        settings.auth_addr, settings.internal_token.get_secret_value(), settings.mtls()
    )
    sharing_servicer = SharingServicer(VFolderSharing(uow=uow, users=users))
    transfers = Transfers(
        files=file_operations,
        transfers=LocalTransfers(),
        key=_transfer_key(settings),
        token_ttl=settings.transfer_token_ttl_seconds,
        quotas=quotas,
    )
    file_servicer = FileServicer(file_operations, transfers)
    services = pb.DESCRIPTOR.services_by_name
    server = create_server(
        domain=ERROR_DOMAIN,
        internal_token=settings.internal_token.get_secret_value(),
        bind=settings.bind,
        mtls=settings.mtls(),
        services=[
            Registration(
                pb_grpc.add_VFolderServiceServicer_to_server,
                vfolder_servicer,
                services["VFolderService"].full_name,
            ),
            Registration(
                pb_grpc.add_MountServiceServicer_to_server,
                mount_servicer,
                services["MountService"].full_name,
            ),
            Registration(
                file_service_pb2_grpc.add_FileServiceServicer_to_server,
                file_servicer,
                file_service_pb2.DESCRIPTOR.services_by_name["FileService"].full_name,
            ),
            Registration(
                vfolder_task_service_pb2_grpc.add_VFolderTaskServiceServicer_to_server,
                VFolderTaskServicer(WatchVFolderTask(clones)),
                vfolder_task_service_pb2.DESCRIPTOR.services_by_name[
                    "VFolderTaskService"
                ].full_name,
            ),
            Registration(
                sharing_service_pb2_grpc.add_VFolderSharingServiceServicer_to_server,
                sharing_servicer,
                sharing_service_pb2.DESCRIPTOR.services_by_name["VFolderSharingService"].full_name,
            ),
        ],
    )
    try:
        await server.start()
    except BaseException:
        await users.close()
        await policies.close()
        if mounted is not None:
            await mounted.close()
        await engine.dispose()
        raise
    log.info(
        "storage serving on port %d, volumes %s (default %s)",
        server.port,
        ", ".join(f"{b.name} at {b.root}" for b in backends),
        volumes.default,
    )
    http, http_port = (None, 0)
    if settings.http_bind:
        tls = http_server_context(mtls) if (mtls := settings.mtls()) else None
        http, http_port = await _serve_http(settings.http_bind, transfers, tls)
    sweeper = TrashSweeper(
        uow=uow,
        volumes=volumes,
        retention=timedelta(seconds=settings.trash_retention_seconds),
        clock=utc_now,
    )
    task = asyncio.create_task(_sweep_forever(sweeper, settings.trash_sweep_interval))
    return StorageServer(
        grpc=server,
        engine=engine,
        users=users,
        policies=policies,
        mounted=mounted,
        sweeper=task,
        transfers=transfers,
        clones=clones,
        http=http,
        http_port=http_port,
    )


async def _serve_http(
    bind: str, transfers: Transfers, tls: ssl.SSLContext | None
) -> tuple[web.AppRunner, int]:
    host, _, port = bind.rpartition(":")
    runner = web.AppRunner(build_app(transfers), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=tls)
    await site.start()
    bound = int(runner.addresses[0][1])  # port 0 picks a free one
    log.info("storage HTTP transfers on %s:%d", host, bound)
    return runner, bound


def _transfer_key(settings: Settings) -> bytes:
    configured = settings.transfer_key.get_secret_value().encode()
    if not configured:
        log.warning("no STORAGE_TRANSFER_KEY: transfer tokens will not survive a restart")
        return secrets.token_bytes(32)
    if len(configured) < 32:
        raise ValueError("STORAGE_TRANSFER_KEY must have at least 32 bytes")
    return configured


async def _sweep_forever(sweeper: TrashSweeper, interval: float) -> None:
    while True:
        try:
            purged = await sweeper.sweep()
            if purged:
                log.info("purged %d folders from the trash", purged)
        except Exception:  # the database may be briefly away: try again next round
            log.exception("trash sweep failed")
        await asyncio.sleep(interval)


async def main() -> None:
    settings = Settings()  # type: ignore[call-arg]  # required keys come from the environment
    await run_service("storage", settings, serve)
