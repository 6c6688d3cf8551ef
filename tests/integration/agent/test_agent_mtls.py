"""An agent over mutual TLS takes kernel commands from services only: another agent's
certificate, though signed by the same CA, opens nothing."""

from __future__ import annotations

import tempfile
import uuid
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from pydantic import SecretStr
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.agent.v1 import kernel_service_pb2_grpc as pb_grpc

from cli.dev_ca import issue_agent, issue_service
from cli.infra import free_port
from libs.core.config import MtlsFiles
from libs.grpcutil.client import internal_channel
from services.agent.app import serve
from services.agent.config import Settings

pytestmark = pytest.mark.integration


async def _list(address: str, token: str, files: MtlsFiles | None) -> pb.ListKernelsResponse:
    async with internal_channel(address, token, files) as channel:
        reply: pb.ListKernelsResponse = await pb_grpc.KernelServiceStub(channel).ListKernels(
            pb.ListKernelsRequest(), timeout=5
        )
        return reply


async def test_only_services_command_an_agent(
    tmp_path: Path, internal_token: str, redis_url: str
) -> None:
    agent_id = f"agent-{uuid.uuid4().hex[:8]}"
    ca = tmp_path / "ca"
    own = issue_agent(ca, agent_id)
    with tempfile.TemporaryDirectory(prefix="sy-", dir="/tmp") as root:
        agent = await serve(
            Settings(
                internal_token=SecretStr(internal_token),
                bind="127.0.0.1:0",
                agent_id=agent_id,
                registry_addr=f"127.0.0.1:{free_port()}",  # nobody: it keeps retrying meanwhile
                redis_url=redis_url,
                kernel_root=Path(root),
                cpu=Decimal(1),
                mem_bytes=1 << 30,
                mtls_cert_file=own.cert,
                mtls_key_file=own.key,
                mtls_ca_file=own.ca,
            )
        )
        try:
            address = f"127.0.0.1:{agent.port}"
            assert (
                list((await _list(address, internal_token, issue_service(ca, "registry"))).kernels)
                == []
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _list(address, internal_token, issue_agent(ca, "another-agent"))
            assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
            assert "agent:another-agent" in (refused.value.details() or "")
            with pytest.raises(grpc.aio.AioRpcError) as plain:
                await _list(address, internal_token, None)
            assert plain.value.code() is grpc.StatusCode.UNAVAILABLE
        finally:
            await agent.stop()
