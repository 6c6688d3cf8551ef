"""Auth's PolicyService as the registry's PolicyResolver: membership, groups, keypair policy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

import grpc
from shipyard.auth.v1 import policy_service_pb2 as pb
from shipyard.auth.v1 import policy_service_pb2_grpc as pb_grpc
from shipyard.auth.v1 import resource_policy_service_pb2 as policy_pb
from shipyard.type.v1 import resources_pb2

from libs.core.config import MtlsFiles
from libs.core.errors import Unavailable
from libs.core.identity import Caller
from libs.core.ids import is_uuid
from libs.core.slots import ResourceSlots
from libs.grpcutil.client import internal_channel
from libs.grpcutil.status import error_from_rpc
from services.registry.domain.errors import (
    ProjectNotFound,
    ResourceGroupNotFound,
    TenantInactive,
)
from services.registry.domain.model import SessionPolicy
from services.registry.domain.presets import SlotLimit, TenantLimits

DEADLINE = 5.0
PREFERRED_GROUP = "default"


class GrpcPolicyResolver:
    def __init__(self, auth_addr: str, internal_token: str, mtls: MtlsFiles | None = None) -> None:
        self._channel = internal_channel(auth_addr, internal_token, mtls)
        self._stub = pb_grpc.PolicyServiceStub(self._channel)

    async def resolve(
        self, caller: Caller, *, project_id: str, resource_group: str
    ) -> SessionPolicy:
        if not is_uuid(project_id):  # auth only knows UUIDs: no such project
            raise ProjectNotFound.named(project_id)
        request = pb.ResolveSessionPolicyRequest(
            user_id=caller.user_id,
            access_key=caller.access_key,
            domain_name=caller.domain_name,
            project_id=project_id,
            resource_group=resource_group,
        )
        try:
            answer = await self._stub.ResolveSessionPolicy(request, timeout=DEADLINE)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("auth is unavailable; try again") from exc
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise TenantInactive("your user or keypair is no longer known") from exc
            raise error_from_rpc(exc) from exc
        return policy_from_answer(answer, project_id, resource_group)

    async def limits(self, caller: Caller, *, project_id: str) -> TenantLimits:
        """The caller's keypair, project and domain caps and allowed resource groups."""
        if not is_uuid(project_id):
            raise ProjectNotFound.named(project_id)
        request = pb.ResolveSessionPolicyRequest(
            user_id=caller.user_id,
            access_key=caller.access_key,
            domain_name=caller.domain_name,
            project_id=project_id,
        )
        try:
            answer = await self._stub.ResolveSessionPolicy(request, timeout=DEADLINE)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("auth is unavailable; try again") from exc
            raise error_from_rpc(exc) from exc
        if not (answer.user_active and answer.keypair_active and answer.domain_active):
            raise TenantInactive("your user, keypair or domain is not active")
        if not (answer.project_active and answer.project_member):
            raise ProjectNotFound.named(project_id)
        policy = answer.keypair_policy
        return TenantLimits(
            keypair=SlotLimit(
                amounts=_slots(policy.total_resource_slots, "total_resource_slots"),
                strict=policy.default_for_unspecified == policy_pb.DEFAULT_FOR_UNSPECIFIED_LIMITED,
            ),
            project=SlotLimit(amounts=_slots(answer.project_total_resource_slots, "project")),
            domain=SlotLimit(amounts=_slots(answer.domain_total_resource_slots, "domain")),
            allowed_resource_groups=tuple(sorted(answer.allowed_resource_groups)),
        )

    async def close(self) -> None:
        await self._channel.close()


def policy_from_answer(
    answer: pb.ResolveSessionPolicyResponse, project_id: str, resource_group: str
) -> SessionPolicy:
    """The verdict as errors (in the order a user can act on), else the keypair's limits."""
    if not (answer.user_active and answer.keypair_active and answer.domain_active):
        raise TenantInactive("your user, keypair or domain is not active")
    if not (answer.project_active and answer.project_member):
        raise ProjectNotFound.named(project_id)
    group = resource_group or _default_group(answer.allowed_resource_groups)
    if resource_group and not answer.resource_group_allowed:
        raise ResourceGroupNotFound.named(resource_group)
    policy = answer.keypair_policy
    return SessionPolicy(
        max_containers_per_session=policy.max_containers_per_session,
        max_pending_sessions=policy.max_pending_sessions,
        max_session_lifetime=int(policy.max_session_lifetime.ToTimedelta().total_seconds()),
        idle_timeout=int(policy.idle_timeout.ToTimedelta().total_seconds()),
        owner_created_at=answer.user_create_time.ToDatetime(UTC)
        if answer.HasField("user_create_time")
        else None,
        total_resource_slots=ResourceSlots.parse(
            dict(policy.total_resource_slots.amounts), field="total_resource_slots"
        ),
        strict_slots=policy.default_for_unspecified == policy_pb.DEFAULT_FOR_UNSPECIFIED_LIMITED,
        resource_group=group,
        max_session_priority=policy.max_session_priority,
    )


def _slots(slots: resources_pb2.ResourceSlots, what: str) -> ResourceSlots:
    return ResourceSlots.parse(dict(slots.amounts), field=what)


def _default_group(allowed: Sequence[str]) -> str:
    if PREFERRED_GROUP in allowed:
        return PREFERRED_GROUP
    if allowed:
        return sorted(allowed)[0]
    raise ResourceGroupNotFound(
        "no resource group is allowed for you",
        metadata={"resource_group": ""},
    )
