"""The registry over mutual TLS: only holders of a certificate of the deployment's CA connect,
and an agent registers, heartbeats and drains only under the id its certificate names."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from shipyard.registry.v1 import cluster_service_pb2 as cluster_pb
from shipyard.registry.v1 import cluster_service_pb2_grpc as cluster_grpc

from cli.dev_ca import issue_agent, issue_service
from libs.core.config import MtlsFiles
from libs.core.errors import PermissionDenied
from libs.grpcutil.client import internal_channel
from services.agent.adapters.registry_client import GrpcAgentRegistry
from services.agent.service.outbound import AgentInfo
from services.registry.app import RunningRegistry
from services.registry.app import serve as serve_registry
from services.registry.config import Settings as RegistrySettings
from tests.conftest import create_database, drop_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def registry(
    tmp_path: Path, redis_url: str, internal_token: str
) -> AsyncIterator[RunningRegistry]:
    db_name, db_url = await create_database()
    files = issue_service(tmp_path / "ca", "registry")
    running = await serve_registry(
        RegistrySettings(
            internal_token=internal_token,
            database_url=db_url,
            redis_url=redis_url,
            redis_prefix=f"mtls:{secrets.token_hex(4)}:",
            bind="127.0.0.1:0",
            mtls_cert_file=files.cert,
            mtls_key_file=files.key,
            mtls_ca_file=files.ca,
        )
    )
    yield running
    await running.stop()
    await drop_database(db_name)


def _info(agent_id: str) -> AgentInfo:
    return AgentInfo(
        agent_id=agent_id,
        address="127.0.0.1:1",
        resource_group="default",
        cpu=Decimal(2),
        mem_bytes=1 << 30,
        backend="process",
        architecture="x86_64",
    )


async def _agents(address: str, token: str, files: MtlsFiles | None) -> dict[str, int]:
    async with internal_channel(address, token, files) as channel:
        reply = await cluster_grpc.ClusterServiceStub(channel).ListAgents(
            cluster_pb.ListAgentsRequest(), timeout=5
        )
    return {a.agent_id: a.status for a in reply.agents}


async def test_an_agent_registers_under_its_own_certificate_only(
    registry: RunningRegistry, tmp_path: Path, internal_token: str
) -> None:
    address = f"127.0.0.1:{registry.port}"
    node_a = issue_agent(tmp_path / "ca", "node-a")
    agent = GrpcAgentRegistry(lambda: internal_channel(address, internal_token, node_a))
    try:
        registration = await agent.register(_info("node-a"), [])
        assert registration.agent_secret
        assert await agent.heartbeat(_info("node-a"), []) is False  # known: no re-register

        # Its certificate names node-a: it cannot register, heartbeat or drain as node-b.
        with pytest.raises(PermissionDenied) as refused:
            await agent.register(_info("node-b"), [])
        assert refused.value.reason == "AGENT_CERTIFICATE_MISMATCH"
        assert "agent:node-a" in refused.value.message
        with pytest.raises(PermissionDenied):
            await agent.drain("node-b", "not mine")
    finally:
        await agent.close()

    # A service's certificate is no agent's either.
    scheduler = issue_service(tmp_path / "ca", "scheduler")
    impostor = GrpcAgentRegistry(lambda: internal_channel(address, internal_token, scheduler))
    try:
        with pytest.raises(PermissionDenied):
            await impostor.register(_info("node-c"), [])
    finally:
        await impostor.close()

    assert await _agents(address, internal_token, scheduler) == {
        "node-a": cluster_pb.Agent.STATUS_ALIVE
    }


async def test_without_a_certificate_of_the_ca_nothing_connects(
    registry: RunningRegistry, tmp_path: Path, internal_token: str
) -> None:
    address = f"127.0.0.1:{registry.port}"
    # The internal token over plaintext, or a certificate of another CA: no connection.
    stranger = issue_service(tmp_path / "other-ca", "scheduler")
    for files in (None, stranger):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _agents(address, internal_token, files)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
