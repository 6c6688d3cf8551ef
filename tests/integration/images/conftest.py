"""A real docker-registry with pushed kernel images, and the registry service (plus a scheduler)
on the test database, driven over gRPC as users, admins and superadmins."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from shipyard.registry.v1 import agent_registry_service_pb2_grpc as agent_grpc
from shipyard.registry.v1 import container_registry_service_pb2_grpc as cr_grpc
from shipyard.registry.v1 import image_service_pb2_grpc as img_grpc
from shipyard.registry.v1 import resource_group_service_pb2_grpc as rg_grpc
from shipyard.registry.v1 import session_service_pb2_grpc as session_grpc

from libs.core.identity import HEADER_INTERNAL_TOKEN, HEADER_SYSTEM, Caller, Role, caller_to_headers
from services.registry.app import RunningRegistry
from services.registry.app import serve as serve_registry
from services.registry.config import Settings as RegistrySettings
from services.scheduler.app import serve as serve_scheduler
from services.scheduler.config import Settings as SchedulerSettings
from tests.conftest import create_database, drop_database
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


def user(role: Role = Role.USER) -> Caller:
    return Caller(
        user_id=str(uuid.uuid4()),
        role=role,
        access_key=f"AK{secrets.token_hex(4)}",
        domain_name="default",
        project_ids=("p1",),
    )


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

    def as_caller(self, caller: Caller) -> tuple[tuple[str, str], ...]:
        return ((HEADER_INTERNAL_TOKEN, self.token), *caller_to_headers(caller).items())

    def as_system(self) -> tuple[tuple[str, str], ...]:
        return ((HEADER_INTERNAL_TOKEN, self.token), (HEADER_SYSTEM, "1"))


@pytest.fixture(scope="module")
async def platform(redis_url: str, internal_token: str) -> AsyncIterator[Platform]:
    # Its own database: the scheduler must not meet other tests' agents and pending sessions.
    db_name, database_url = await create_database()
    prefix = f"test:{secrets.token_hex(4)}:"
    registry = await serve_registry(
        RegistrySettings(
            internal_token=internal_token,
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=prefix,
            bind="127.0.0.1:0",
            node_id=f"images-{secrets.token_hex(4)}",
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
        )
    finally:
        await channel.close()
        await scheduler.stop()
        await registry.stop()
        await drop_database(db_name)
