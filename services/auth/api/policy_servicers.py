"""`ResourcePolicyService`, `ResourceGroupAccessService` and the internal `PolicyService`."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from shipyard.auth.v1 import policy_service_pb2 as pspb
from shipyard.auth.v1 import policy_service_pb2_grpc as pspb_grpc
from shipyard.auth.v1 import resource_group_access_service_pb2 as apb
from shipyard.auth.v1 import resource_group_access_service_pb2_grpc as apb_grpc
from shipyard.auth.v1 import resource_policy_service_pb2 as rpb
from shipyard.auth.v1 import resource_policy_service_pb2_grpc as rpb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.auth.api import grant_convert as gv
from services.auth.api import tenancy_convert as cv
from services.auth.api.audited import audited, note
from services.auth.domain.paging import page_request
from services.auth.service.audit import AuditLog
from services.auth.service.policies import ACCESS_FIELDS, AccessLists, Policies
from services.auth.service.policy_resolver import PolicyResolver
from services.auth.service.user_lookup import UserLookup

Ctx: TypeAlias = grpc.aio.ServicerContext


class ResourcePolicyServicer(rpb_grpc.ResourcePolicyServiceServicer):
    def __init__(self, policies: Policies, audit: AuditLog) -> None:
        self.policies = policies
        self.audit = audit

    @override
    @audited("resource-policy.create", "resource-policy", lambda r: r.resource_policy.name)
    async def CreateResourcePolicy(
        self, request: rpb.CreateResourcePolicyRequest, context: Ctx
    ) -> rpb.CreateResourcePolicyResponse:
        created = await self.policies.create(
            current_caller(), gv.policy_of(request.resource_policy)
        )
        return rpb.CreateResourcePolicyResponse(resource_policy=gv.policy_pb(created))

    @override
    async def GetResourcePolicy(
        self, request: rpb.GetResourcePolicyRequest, context: Ctx
    ) -> rpb.GetResourcePolicyResponse:
        found = await self.policies.get(current_caller(), request.name)
        return rpb.GetResourcePolicyResponse(resource_policy=gv.policy_pb(found))

    @override
    async def ListResourcePolicies(
        self, request: rpb.ListResourcePoliciesRequest, context: Ctx
    ) -> rpb.ListResourcePoliciesResponse:
        page = await self.policies.list(
            current_caller(),
            page_request(request.page_size, request.page_token),
            name_contains=request.name_contains,
        )
        return rpb.ListResourcePoliciesResponse(
            resource_policies=[gv.policy_pb(p) for p in page.items],
            next_page_token=page.next_token,
        )

    @override
    @audited("resource-policy.update", "resource-policy", lambda r: r.resource_policy.name)
    async def UpdateResourcePolicy(
        self, request: rpb.UpdateResourcePolicyRequest, context: Ctx
    ) -> rpb.UpdateResourcePolicyResponse:
        note(detail=",".join(request.update_mask.paths))
        changes = gv.policy_changes(request.resource_policy, request.update_mask)
        updated = await self.policies.update(
            current_caller(), request.resource_policy.name, changes
        )
        return rpb.UpdateResourcePolicyResponse(resource_policy=gv.policy_pb(updated))

    @override
    @audited("resource-policy.delete", "resource-policy", lambda r: r.name)
    async def DeleteResourcePolicy(
        self, request: rpb.DeleteResourcePolicyRequest, context: Ctx
    ) -> rpb.DeleteResourcePolicyResponse:
        await self.policies.delete(current_caller(), request.name)
        return rpb.DeleteResourcePolicyResponse()


class ResourceGroupAccessServicer(apb_grpc.ResourceGroupAccessServiceServicer):
    def __init__(self, access: AccessLists, audit: AuditLog) -> None:
        self.access = access
        self.audit = audit

    @override
    async def GetResourceGroupAccess(
        self, request: apb.GetResourceGroupAccessRequest, context: Ctx
    ) -> apb.GetResourceGroupAccessResponse:
        found = await self.access.get(current_caller(), request.resource_group)
        return apb.GetResourceGroupAccessResponse(access=gv.access_pb(found))

    @override
    async def ListResourceGroupAccess(
        self, request: apb.ListResourceGroupAccessRequest, context: Ctx
    ) -> apb.ListResourceGroupAccessResponse:
        page = await self.access.list(
            current_caller(),
            page_request(request.page_size, request.page_token),
            domain_name=request.domain_name,
            project_id=request.project_id.lower(),
            access_key=request.access_key,
        )
        return apb.ListResourceGroupAccessResponse(
            accesses=[gv.access_pb(a) for a in page.items], next_page_token=page.next_token
        )

    @override
    @audited("resource-group-access.update", "resource-group", lambda r: r.access.resource_group)
    async def UpdateResourceGroupAccess(
        self, request: apb.UpdateResourceGroupAccessRequest, context: Ctx
    ) -> apb.UpdateResourceGroupAccessResponse:
        fields = cv.mask_paths(request.update_mask, ACCESS_FIELDS, "access")
        note(detail=",".join(fields))
        updated = await self.access.update(current_caller(), gv.access_of(request.access), fields)
        return apb.UpdateResourceGroupAccessResponse(access=gv.access_pb(updated))


class PolicyServicer(pspb_grpc.PolicyServiceServicer):
    def __init__(self, resolver: PolicyResolver, users: UserLookup) -> None:
        self._resolver = resolver
        self._users = users

    @override
    async def LookupUsers(
        self, request: pspb.LookupUsersRequest, context: Ctx
    ) -> pspb.LookupUsersResponse:
        found = await self._users.by_emails(list(request.emails))
        return pspb.LookupUsersResponse(
            users=[
                pspb.UserSummary(
                    user_id=u.user_id,
                    email=u.email,
                    domain_name=u.domain_name,
                    active=u.active,
                    project_ids=list(u.project_ids),
                )
                for u in found
            ]
        )

    @override
    async def ResolveSessionPolicy(
        self, request: pspb.ResolveSessionPolicyRequest, context: Ctx
    ) -> pspb.ResolveSessionPolicyResponse:
        found = await self._resolver.resolve(
            user_id=request.user_id.lower(),
            access_key=request.access_key,
            domain_name=request.domain_name,
            project_id=request.project_id.lower(),
            resource_group=request.resource_group,
        )
        answer = pspb.ResolveSessionPolicyResponse(
            user_active=found.user_active,
            keypair_active=found.keypair_active,
            domain_active=found.domain_active,
            project_active=found.project_active,
            project_member=found.project_member,
            resource_group_allowed=found.resource_group_allowed,
            allowed_resource_groups=list(found.allowed_resource_groups),
            access_key=found.access_key,
            keypair_policy=gv.policy_pb(found.keypair_policy),
            project_total_resource_slots=cv.slots_pb(found.project_slots),
            domain_total_resource_slots=cv.slots_pb(found.domain_slots),
        )
        if found.user_created_at is not None:
            answer.user_create_time.FromDatetime(found.user_created_at)
        return answer

    @override
    async def BatchGetLimits(
        self, request: pspb.BatchGetLimitsRequest, context: Ctx
    ) -> pspb.BatchGetLimitsResponse:
        limits = await self._resolver.batch(
            list(request.access_keys),
            [p.lower() for p in request.project_ids],
            list(request.domain_names),
        )
        response = pspb.BatchGetLimitsResponse()
        for key, policy in limits.keypair_policies.items():
            response.keypair_policies[key].CopyFrom(gv.policy_pb(policy))
        for project_id, slots in limits.project_slots.items():
            response.project_total_resource_slots[project_id].CopyFrom(cv.slots_pb(slots))
        for name, slots in limits.domain_slots.items():
            response.domain_total_resource_slots[name].CopyFrom(cv.slots_pb(slots))
        return response
