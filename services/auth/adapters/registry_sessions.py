"""Ending the sessions of deactivated owners, through the registry's internal RPC."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import session_admin_service_pb2 as pb
from shipyard.registry.v1 import session_admin_service_pb2_grpc as pb_grpc

from libs.core.config import MtlsFiles
from libs.grpcutil.client import internal_channel
from libs.grpcutil.status import error_from_rpc
from services.auth.service.tenancy_ports import Owners

_TIMEOUT = 30.0


class GrpcSessionTerminator:
    def __init__(
        self, registry_addr: str, internal_token: str, mtls: MtlsFiles | None = None
    ) -> None:
        self._channel = internal_channel(registry_addr, internal_token, mtls)
        self._stub = pb_grpc.SessionAdminServiceStub(self._channel)

    async def terminate(self, owners: Owners, reason: str) -> int:
        request = pb.TerminateSessionsOfOwnersRequest(
            user_ids=list(owners.user_ids),
            access_keys=list(owners.access_keys),
            project_ids=list(owners.project_ids),
            domain_names=list(owners.domain_names),
            reason=reason,
        )
        try:
            response = await self._stub.TerminateSessionsOfOwners(request, timeout=_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        return len(response.session_ids)

    async def close(self) -> None:
        await self._channel.close()
