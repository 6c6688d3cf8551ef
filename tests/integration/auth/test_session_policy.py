"""ResolveSessionPolicy: which resource groups a user's domain, project and keypair open."""

from __future__ import annotations

import grpc
import pytest
from shipyard.auth.v1 import policy_service_pb2 as pspb
from shipyard.auth.v1 import resource_group_access_service_pb2 as rgpb

from tests.integration.auth.admin_client import Admin, system_metadata
from tests.integration.auth.tenants import World, issue_keypair, mask

pytestmark = pytest.mark.integration


async def _grant(world: World, group: str, field: str, values: list[str]) -> None:
    access = rgpb.ResourceGroupAccess(resource_group=group, **{field: values})  # type: ignore[arg-type]
    await world.root.access.UpdateResourceGroupAccess(
        rgpb.UpdateResourceGroupAccessRequest(access=access, update_mask=mask(field)),
        metadata=world.root.metadata,
    )


async def test_groups_open_by_own_domain_project_and_keypair_only(world: World, internal_token):
    tag = world.domain_a
    issued = await issue_keypair(world, world.user_a)
    await _grant(world, f"dom-{tag}", "domain_names", [world.domain_a])
    await _grant(world, f"proj-{tag}", "project_ids", [world.project_a.project_id])
    await _grant(world, f"key-{tag}", "access_keys", [issued.keypair.access_key])
    system = Admin(world.root.channel, system_metadata(internal_token))

    async def resolve(**fields: str) -> pspb.ResolveSessionPolicyResponse:
        return await system.policy.ResolveSessionPolicy(
            pspb.ResolveSessionPolicyRequest(**fields), metadata=system.metadata
        )

    own = await resolve(
        user_id=world.user_a.user_id,
        access_key=issued.keypair.access_key,
        domain_name=world.domain_a,
        project_id=world.project_a.project_id,
        resource_group=f"key-{tag}",
    )
    assert {f"dom-{tag}", f"proj-{tag}", f"key-{tag}"} <= set(own.allowed_resource_groups)
    assert own.resource_group_allowed and own.project_member and own.domain_active
    assert own.access_key == issued.keypair.access_key
    # A user of the other domain naming this domain and project opens neither group, and a
    # keypair of someone else is no keypair of theirs.
    await issue_keypair(world, world.user_b)
    stranger = await resolve(
        user_id=world.user_b.user_id,
        domain_name=world.domain_a,
        project_id=world.project_a.project_id,
        resource_group=f"dom-{tag}",
    )
    assert not stranger.domain_active and not stranger.project_member
    assert not stranger.resource_group_allowed
    assert not {f"dom-{tag}", f"proj-{tag}", f"key-{tag}"} & set(stranger.allowed_resource_groups)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await resolve(
            user_id=world.user_b.user_id,
            access_key=issued.keypair.access_key,
            domain_name=world.domain_b,
            project_id=world.project_b.project_id,
        )
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
