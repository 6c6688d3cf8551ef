"""Auth's PolicyService.LookupUsers as storage's UserDirectory."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from shipyard.auth.v1 import policy_service_pb2 as pb
from shipyard.auth.v1 import policy_service_pb2_grpc as pb_grpc

from libs.core.config import MtlsFiles
from libs.core.errors import Unavailable
from libs.grpcutil.client import internal_channel
from libs.grpcutil.status import error_from_rpc
from services.storage.domain.sharing import UserRef

DEADLINE = 5.0


class GrpcUserDirectory:
    def __init__(self, auth_addr: str, internal_token: str, mtls: MtlsFiles | None = None) -> None:
        self._channel = internal_channel(auth_addr, internal_token, mtls)
        self._stub = pb_grpc.PolicyServiceStub(self._channel)

    async def by_emails(self, emails: Sequence[str]) -> Sequence[UserRef]:
        try:
            answer = await self._stub.LookupUsers(
                pb.LookupUsersRequest(emails=list(emails)), timeout=DEADLINE
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("auth is unavailable; try again") from exc
            raise error_from_rpc(exc) from exc
        return [
            UserRef(
                user_id=u.user_id,
                email=u.email,
                domain_name=u.domain_name,
                active=u.active,
                project_ids=tuple(u.project_ids),
            )
            for u in answer.users
        ]

    async def close(self) -> None:
        await self._channel.close()
