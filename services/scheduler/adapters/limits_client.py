"""Auth's PolicyService.BatchGetLimits as the scheduler's LimitsSource."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from shipyard.auth.v1 import policy_service_pb2 as pb
from shipyard.auth.v1 import policy_service_pb2_grpc as pb_grpc
from shipyard.auth.v1 import resource_policy_service_pb2 as policy_pb
from shipyard.type.v1 import resources_pb2

from libs.core.ids import is_uuid
from libs.grpcutil.status import error_from_rpc
from services.scheduler.adapters.registry_convert import slots_from_pb
from services.scheduler.domain.limits import KeypairLimits, Limits, SlotQuota

DEADLINE = 5.0


class GrpcLimitsSource:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.PolicyServiceStub(channel)

    async def limits(
        self,
        *,
        access_keys: Sequence[str],
        project_ids: Sequence[str],
        domain_names: Sequence[str],
    ) -> Limits:
        request = pb.BatchGetLimitsRequest(
            access_keys=list(access_keys),
            # Auth's projects are UUIDs; anything else has no limits to fetch.
            project_ids=[p for p in project_ids if is_uuid(p)],
            domain_names=list(domain_names),
        )
        try:
            answer = await self._stub.BatchGetLimits(request, timeout=DEADLINE)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        return limits_from_pb(answer)


def limits_from_pb(answer: pb.BatchGetLimitsResponse) -> Limits:
    return Limits(
        keypairs={ak: _keypair(p) for ak, p in answer.keypair_policies.items()},
        projects=_caps(answer.project_total_resource_slots),
        domains=_caps(answer.domain_total_resource_slots),
    )


def _keypair(policy: policy_pb.ResourcePolicy) -> KeypairLimits:
    strict = policy.default_for_unspecified == policy_pb.DEFAULT_FOR_UNSPECIFIED_LIMITED
    return KeypairLimits(
        max_concurrent_sessions=policy.max_concurrent_sessions,
        total=SlotQuota(amounts=slots_from_pb(policy.total_resource_slots), strict=strict),
    )


def _caps(caps: Mapping[str, resources_pb2.ResourceSlots]) -> dict[str, SlotQuota]:
    # An empty cap means unlimited: such owners get no entry at all.
    return {k: SlotQuota(amounts=slots_from_pb(v)) for k, v in caps.items() if v.amounts}
