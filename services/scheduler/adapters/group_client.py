"""The registry's ResourceGroupService as the source of each group's scheduling settings."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import resource_group_service_pb2 as pb
from shipyard.registry.v1 import resource_group_service_pb2_grpc as pb_grpc

from libs.grpcutil.status import error_from_rpc
from services.scheduler.domain.group_config import GroupScheduling

DEADLINE = 5.0
PAGE = 1000


class GrpcGroupSettings:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.ResourceGroupServiceStub(channel)

    async def groups(self) -> dict[str, GroupScheduling]:
        """Every group's settings (inactive groups too: their queued sessions still wait)."""
        found: dict[str, GroupScheduling] = {}
        token = ""
        while True:
            try:
                page = await self._stub.ListResourceGroups(
                    pb.ListResourceGroupsRequest(page_size=PAGE, page_token=token),
                    timeout=DEADLINE,
                )
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc) from exc
            for group in page.resource_groups:
                found[group.name] = settings_from_pb(group)
            token = page.next_page_token
            if not token:
                return found


def settings_from_pb(group: pb.ResourceGroup) -> GroupScheduling:
    return GroupScheduling(
        policy=group.scheduler or "fifo",
        selector=group.agent_selector or "least-occupied",
        options=dict(group.scheduler_options),
        allowed_session_types=tuple(group.allowed_session_types),
        pending_timeout=float(group.pending_timeout_seconds),
        reservation_wait=float(group.reservation_wait_seconds),
    )
