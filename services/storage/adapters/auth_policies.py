"""Auth's PolicyService.BatchGetLimits as storage's source of keypair folder limits."""

from __future__ import annotations

import grpc
from shipyard.auth.v1 import policy_service_pb2 as pb
from shipyard.auth.v1 import policy_service_pb2_grpc as pb_grpc

from libs.core.config import MtlsFiles
from libs.core.errors import Unavailable
from libs.grpcutil.client import internal_channel
from libs.grpcutil.status import error_from_rpc
from services.storage.service.limits import FolderPolicy

DEADLINE = 5.0


class GrpcFolderPolicies:
    def __init__(self, auth_addr: str, internal_token: str, mtls: MtlsFiles | None = None) -> None:
        self._channel = internal_channel(auth_addr, internal_token, mtls)
        self._stub = pb_grpc.PolicyServiceStub(self._channel)

    async def for_keypair(self, access_key: str) -> FolderPolicy:
        try:
            answer = await self._stub.BatchGetLimits(
                pb.BatchGetLimitsRequest(access_keys=[access_key]), timeout=DEADLINE
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("auth is unavailable; try again") from exc
            raise error_from_rpc(exc) from exc
        policy = answer.keypair_policies.get(access_key)
        if policy is None:
            return FolderPolicy(max_count=0, max_size=0)
        return FolderPolicy(max_count=policy.max_vfolder_count, max_size=policy.max_vfolder_size)

    async def close(self) -> None:
        await self._channel.close()
