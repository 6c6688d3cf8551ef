"""A real docker-registry with pushed kernel images, and auth, the registry service and a scheduler
on the test database, driven over gRPC as real members of a project: users, admins and the
bootstrap superadmin."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from shipyard.auth.v1 import resource_group_access_service_pb2 as rga
from shipyard.auth.v1 import resource_group_access_service_pb2_grpc as rga_grpc
from shipyard.registry.v1 import agent_registry_service_pb2_grpc as agent_grpc
from shipyard.registry.v1 import container_registry_service_pb2_grpc as cr_grpc
from shipyard.registry.v1 import image_service_pb2_grpc as img_grpc
from shipyard.registry.v1 import resource_group_service_pb2_grpc as rg_grpc
from shipyard.registry.v1 import session_service_pb2_grpc as session_grpc

from libs.core.identity import HEADER_INTERNAL_TOKEN, HEADER_SYSTEM, Caller, Role, caller_to_headers
from services.auth.app import AuthServer
from services.auth.app import serve as serve_auth
from services.auth.config import Settings as AuthSettings
from services.registry.app import RunningRegistry
from services.registry.app import serve as serve_registry
from services.registry.config import Settings as RegistrySettings
from services.scheduler.app import serve as serve_scheduler
from services.scheduler.config import Settings as SchedulerSettings
from services.storage.app import serve as serve_storage
from services.storage.config import Settings as StorageSettings
from tests.conftest import create_database, drop_database
from tests.integration.enforce import matrix
from tests.integration.images.oci_images import KERNEL_LABELS, build_layout, push
from tests.integration.images.registry_server import RegistryServer, start_registry

pytestmark = pytest.mark.integration

# Tags pushed to the test registry: (repository:tag, architectures, labels).
PUSHED = {
    "shipyard/busybox:1": (["amd64"], KERNEL_LABELS),
    "shipyard/busybox:2": (["amd64"], {**KERNEL_LABELS, "ai.backend.resource.min.mem": "64m"}),
    "shipyard/busybox:multi": (["amd64", "arm64"], KERNEL_LABELS),
    "shipyard/busybox:arm": (["arm64"], {**KERNEL_LABELS, "ai.backend.resource.min.mem": "64m"}),
    "other/plain:latest": (["amd64"], {}),  # no ai.backend labels: skipped by rescans
    # Pushed in Docker's media types (manifest v2 schema 2, manifest list) instead of OCI's.
    "shipyard/docker:1": (["amd64"], KERNEL_LABELS),
    "shipyard/docker:multi": (["amd64", "arm64"], KERNEL_LABELS),
}
DOCKER_FORMAT = frozenset({"shipyard/docker:1", "shipyard/docker:multi"})


@pytest.fixture(scope="session")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    workdir: Path = tmp_path_factory.mktemp("docker-registry")
    server = start_registry(workdir)
    try:
        layout = workdir / "layout"
        build_layout(layout, PUSHED)
        for name in PUSHED:
            push(layout, name, f"{server.host}/{name}", docker_format=name in DOCKER_FORMAT)
        yield server
    finally:
        server.stop()


@dataclass
class Platform:
    registry: RunningRegistry
    database_url: str
    token: str
    channel: grpc.aio.Channel
    images: img_grpc.ImageServiceStub
    registries: cr_grpc.ContainerRegistryServiceStub
    groups: rg_grpc.ResourceGroupServiceStub
    sessions: session_grpc.SessionServiceStub
    agents: agent_grpc.AgentRegistryServiceStub
    auth_channel: grpc.aio.Channel
    tenancy: matrix.Tenancy

    @property
    def superadmin(self) -> Caller:
        """Auth's bootstrap superadmin, signing with a keypair of its own."""
        root = self.tenancy.callers["superadmin"]
        assert root is not None
        return root

    async def user(self, role: Role = Role.USER) -> Caller:
        """A new member of project A1 (domain A) with a keypair; superadmin is the bootstrap one."""
        if role is Role.SUPERADMIN:
            return self.superadmin
        return await matrix.new_member(
            self.auth_channel,
            self.token,
            self.superadmin,
            domain=self.tenancy.domain_a,
            project_id=self.tenancy.project_a1,
            role=role,
        )

    async def allow(self, group: str) -> None:
        """Open resource group `group` to domain A in auth's allow-lists."""
        await rga_grpc.ResourceGroupAccessServiceStub(self.auth_channel).UpdateResourceGroupAccess(
            rga.UpdateResourceGroupAccessRequest(
                access=rga.ResourceGroupAccess(
                    resource_group=group, domain_names=[self.tenancy.domain_a]
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["domain_names"]),
            ),
            metadata=self.as_caller(self.superadmin),
        )

    def as_caller(self, caller: Caller) -> tuple[tuple[str, str], ...]:
        return ((HEADER_INTERNAL_TOKEN, self.token), *caller_to_headers(caller).items())

    def as_system(self) -> tuple[tuple[str, str], ...]:
        return ((HEADER_INTERNAL_TOKEN, self.token), (HEADER_SYSTEM, "1"))


@pytest.fixture(scope="module")
async def platform(
    redis_url: str, internal_token: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    # Its own database: the scheduler must not meet other tests' agents and pending sessions.
    db_name, database_url = await create_database()
    prefix = f"test:{secrets.token_hex(4)}:"
    auth: AuthServer = await serve_auth(
        AuthSettings(
            internal_token=internal_token,
            database_url=database_url,
            redis_url=redis_url,
            bind="127.0.0.1:0",
            authz_bind="127.0.0.1:0",
            bootstrap_admin_email=f"root-{secrets.token_hex(3)}@example.com",
        )
    )
    auth_addr = f"127.0.0.1:{auth.port}"
    auth_channel = grpc.aio.insecure_channel(auth_addr)
    tenancy = await matrix.build_tenancy(auth_channel, internal_token, "default")
    # CreateSession asks storage for the caller's folders (dot-folders come unasked).
    storage = await serve_storage(
        StorageSettings(
            internal_token=internal_token,
            database_url=database_url,
            bind="127.0.0.1:0",
            http_bind="127.0.0.1:0",
            volume_root=tmp_path_factory.mktemp("images-volumes"),
            auth_addr=auth_addr,
        )
    )
    registry = await serve_registry(
        RegistrySettings(
            internal_token=internal_token,
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=prefix,
            bind="127.0.0.1:0",
            node_id=f"images-{secrets.token_hex(4)}",
            auth_addr=auth_addr,
            storage_addr=f"127.0.0.1:{storage.port}",
            # The agents here listen nowhere, so every start fails: one attempt ends the
            # session where it was placed (these tests check placement, not re-queueing).
            start_max_attempts=1,
        )
    )
    scheduler = await serve_scheduler(
        SchedulerSettings(
            internal_token=internal_token,
            bind="127.0.0.1:0",
            registry_addr=f"127.0.0.1:{registry.port}",
            redis_url=redis_url,
            redis_prefix=prefix,
            tick_interval=0.1,
            lease_ttl=1.0,
            auth_addr=auth_addr,
            groups_refresh=0.2,
        )
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry.port}")
    try:
        yield Platform(
            registry=registry,
            database_url=database_url,
            token=internal_token,
            channel=channel,
            images=img_grpc.ImageServiceStub(channel),
            registries=cr_grpc.ContainerRegistryServiceStub(channel),
            groups=rg_grpc.ResourceGroupServiceStub(channel),
            sessions=session_grpc.SessionServiceStub(channel),
            agents=agent_grpc.AgentRegistryServiceStub(channel),
            auth_channel=auth_channel,
            tenancy=tenancy,
        )
    finally:
        await channel.close()
        await scheduler.stop()
        await registry.stop()
        await storage.stop(grace=0)
        await auth_channel.close()
        await auth.stop(grace=0)
        await drop_database(db_name)
