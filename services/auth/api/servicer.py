"""`shipyard.auth.v1.IdentityService`."""

from __future__ import annotations

import grpc
from shipyard.auth.v1 import identity_service_pb2 as pb
from shipyard.auth.v1 import identity_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.auth.api.identity import identity_response


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    @override
    async def GetCurrentIdentity(
        self, request: pb.GetCurrentIdentityRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCurrentIdentityResponse:
        # The caller comes from the identity headers the edge injected after Check.
        return identity_response(current_caller())
