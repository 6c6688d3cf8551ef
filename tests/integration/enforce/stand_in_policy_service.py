"""A STAND-IN for auth's PolicyService, for integration tests only.

Auth's own implementation (tenancy model in PostgreSQL) answers these calls in production and
in the e2e suite; here the registry and scheduler under test need an answer for tenants the
test defines in memory. It follows the contract in proto/shipyard/auth/v1/policy_service.proto.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import grpc
from shipyard.auth.v1 import policy_service_pb2 as pb
from shipyard.auth.v1 import policy_service_pb2_grpc as pb_grpc
from shipyard.auth.v1 import resource_policy_service_pb2 as policy_pb

from libs.core.identity import Caller


@dataclass
class StandInTenants:
    """Users (by id) with their domain and projects; one policy for every keypair."""

    members: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    keypairs: dict[str, str] = field(default_factory=dict)  # access key -> user id
    allowed_groups: tuple[str, ...] = ("default",)
    policy: policy_pb.ResourcePolicy = field(default_factory=policy_pb.ResourcePolicy)

    def add(self, callers: Iterable[Caller]) -> None:
        for c in callers:
            self.members[c.user_id] = (c.domain_name, c.project_ids)
            self.keypairs[c.access_key] = c.user_id


class StandInPolicyService(pb_grpc.PolicyServiceServicer):
    def __init__(self, tenants: StandInTenants) -> None:
        self.tenants = tenants

    async def ResolveSessionPolicy(
        self, request: pb.ResolveSessionPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResolveSessionPolicyResponse:
        t = self.tenants
        if (
            request.user_id not in t.members
            or t.keypairs.get(request.access_key) != request.user_id
        ):
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown user or keypair")
        domain, projects = t.members[request.user_id]
        return pb.ResolveSessionPolicyResponse(
            user_active=True,
            keypair_active=True,
            domain_active=domain == request.domain_name,
            project_active=True,
            project_member=request.project_id in projects,
            resource_group_allowed=not request.resource_group
            or request.resource_group in t.allowed_groups,
            allowed_resource_groups=list(t.allowed_groups),
            access_key=request.access_key,
            keypair_policy=t.policy,
        )

    async def BatchGetLimits(
        self, request: pb.BatchGetLimitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchGetLimitsResponse:
        policies: Mapping[str, policy_pb.ResourcePolicy] = {
            ak: self.tenants.policy for ak in request.access_keys if ak in self.tenants.keypairs
        }
        return pb.BatchGetLimitsResponse(keypair_policies=policies)


async def start_stand_in(tenants: StandInTenants) -> tuple[grpc.aio.Server, int]:
    """A plain server (no interceptor): the services under test call it with their token."""
    server = grpc.aio.server()
    pb_grpc.add_PolicyServiceServicer_to_server(StandInPolicyService(tenants), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
