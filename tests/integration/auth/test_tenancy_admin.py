"""The tenancy admin APIs over real gRPC and PostgreSQL, driven as different tenants."""

from __future__ import annotations

import grpc
import pytest
from shipyard.auth.v1 import domain_service_pb2 as dpb
from shipyard.auth.v1 import keypair_service_pb2 as kpb
from shipyard.auth.v1 import project_service_pb2 as ppb
from shipyard.auth.v1 import resource_group_access_service_pb2 as rgpb
from shipyard.auth.v1 import user_service_pb2 as upb
from shipyard.type.v1 import identity_pb2

from tests.integration.auth.tenants import World, mask

pytestmark = pytest.mark.integration


async def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code()


async def test_domain_admin_manages_own_domain_and_sees_nothing_of_another(world: World):
    admin = world.as_user(world.admin_a)
    md = admin.metadata

    listed = await admin.users.ListUsers(upb.ListUsersRequest(), metadata=md)
    assert {u.domain_name for u in listed.users} == {world.domain_a}
    assert {u.email for u in listed.users} >= {world.user_a.email, world.user_a2.email}

    get_b = admin.users.GetUser(upb.GetUserRequest(user_id=world.user_b.user_id), metadata=md)
    assert await _code(get_b) is grpc.StatusCode.NOT_FOUND
    other_project = admin.projects.GetProject(
        ppb.GetProjectRequest(project_id=world.project_b.project_id), metadata=md
    )
    assert await _code(other_project) is grpc.StatusCode.NOT_FOUND
    into_b = admin.users.CreateUser(
        upb.CreateUserRequest(
            user=upb.User(email="x@example.com", domain_name=world.domain_b),
            password="long enough",
        ),
        metadata=md,
    )
    assert await _code(into_b) is grpc.StatusCode.NOT_FOUND
    deactivate_b = admin.users.UpdateUser(
        upb.UpdateUserRequest(
            user=upb.User(user_id=world.user_b.user_id, status=upb.USER_STATUS_INACTIVE),
            update_mask=mask("status"),
        ),
        metadata=md,
    )
    assert await _code(deactivate_b) is grpc.StatusCode.NOT_FOUND

    renamed = await admin.users.UpdateUser(
        upb.UpdateUserRequest(
            user=upb.User(user_id=world.user_a.user_id, full_name="Ada Lovelace"),
            update_mask=mask("full_name"),
        ),
        metadata=md,
    )
    assert renamed.user.full_name == "Ada Lovelace"


async def test_domain_admin_cannot_mint_superadmins_or_touch_domains(world: World):
    admin = world.as_user(world.admin_a)
    escalate = admin.users.CreateUser(
        upb.CreateUserRequest(
            user=upb.User(
                email="boss@example.com",
                domain_name=world.domain_a,
                role=identity_pb2.ROLE_SUPERADMIN,
            ),
            password="long enough",
        ),
        metadata=admin.metadata,
    )
    assert await _code(escalate) is grpc.StatusCode.PERMISSION_DENIED
    create_domain = admin.domains.CreateDomain(
        dpb.CreateDomainRequest(domain=dpb.Domain(name="mine")), metadata=admin.metadata
    )
    assert await _code(create_domain) is grpc.StatusCode.PERMISSION_DENIED
    other = admin.domains.GetDomain(
        dpb.GetDomainRequest(name=world.domain_b), metadata=admin.metadata
    )
    assert await _code(other) is grpc.StatusCode.NOT_FOUND
    own = await admin.domains.GetDomain(
        dpb.GetDomainRequest(name=world.domain_a), metadata=admin.metadata
    )
    assert own.domain.name == world.domain_a


async def test_monitor_reads_everything_and_changes_nothing(world: World):
    monitor = world.as_user(world.monitor)
    listed = await monitor.users.ListUsers(
        upb.ListUsersRequest(domain_name=world.domain_a), metadata=monitor.metadata
    )
    assert world.user_a.email in {u.email for u in listed.users}
    change = monitor.users.UpdateUser(
        upb.UpdateUserRequest(
            user=upb.User(user_id=world.user_a.user_id, full_name="x"),
            update_mask=mask("full_name"),
        ),
        metadata=monitor.metadata,
    )
    assert await _code(change) is grpc.StatusCode.PERMISSION_DENIED


async def test_a_user_sees_only_themselves_and_their_projects(world: World):
    user = world.as_user(world.user_a)
    listed = await user.users.ListUsers(upb.ListUsersRequest(), metadata=user.metadata)
    assert [u.user_id for u in listed.users] == [world.user_a.user_id]
    other_domain = await user.users.ListUsers(
        upb.ListUsersRequest(domain_name=world.domain_b), metadata=user.metadata
    )
    assert list(other_domain.users) == []
    neighbour = user.users.GetUser(
        upb.GetUserRequest(user_id=world.user_a2.user_id), metadata=user.metadata
    )
    assert await _code(neighbour) is grpc.StatusCode.NOT_FOUND
    projects = await user.projects.ListProjects(ppb.ListProjectsRequest(), metadata=user.metadata)
    assert [p.project_id for p in projects.projects] == [world.project_a.project_id]
    create = user.projects.CreateProject(
        ppb.CreateProjectRequest(project=ppb.Project(domain_name=world.domain_a, name="mine")),
        metadata=user.metadata,
    )
    assert await _code(create) is grpc.StatusCode.PERMISSION_DENIED


async def test_lists_page_and_filter(world: World):
    root = world.root
    first = await root.users.ListUsers(
        upb.ListUsersRequest(domain_name=world.domain_a, page_size=2), metadata=root.metadata
    )
    assert len(first.users) == 2 and first.next_page_token
    rest = await root.users.ListUsers(
        upb.ListUsersRequest(
            domain_name=world.domain_a, page_size=2, page_token=first.next_page_token
        ),
        metadata=root.metadata,
    )
    emails = [u.email for u in [*first.users, *rest.users]]
    assert len(emails) == len(set(emails)) == 3
    admins = await root.users.ListUsers(
        upb.ListUsersRequest(domain_name=world.domain_a, role=identity_pb2.ROLE_ADMIN),
        metadata=root.metadata,
    )
    assert [u.email for u in admins.users] == [world.admin_a.email]
    members = await root.users.ListUsers(
        upb.ListUsersRequest(project_id=world.project_a.project_id), metadata=root.metadata
    )
    assert {u.email for u in members.users} == {world.user_a.email, world.user_a2.email}


async def test_bad_input_names_the_field(world: World):
    root = world.root
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await root.users.UpdateUser(
            upb.UpdateUserRequest(
                user=upb.User(user_id=world.user_a.user_id), update_mask=mask("domain_name")
            ),
            metadata=root.metadata,
        )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await root.users.CreateUser(
            upb.CreateUserRequest(
                user=upb.User(email="not-an-email", domain_name=world.domain_a),
                password="long enough",
            ),
            metadata=root.metadata,
        )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "user.email" in (info.value.details() or "")
    duplicate = root.users.CreateUser(
        upb.CreateUserRequest(
            user=upb.User(email=world.user_a.email, domain_name=world.domain_a),
            password="long enough",
        ),
        metadata=root.metadata,
    )
    assert await _code(duplicate) is grpc.StatusCode.ALREADY_EXISTS


async def test_soft_deleted_project_disappears_from_lists_but_keeps_its_row(world: World):
    root = world.root
    deleted = await root.projects.DeleteProject(
        ppb.DeleteProjectRequest(project_id=world.project_b.project_id), metadata=root.metadata
    )
    assert deleted.project.HasField("delete_time") and not deleted.project.is_active
    assert deleted.sessions_ended is False
    listed = await root.projects.ListProjects(
        ppb.ListProjectsRequest(domain_name=world.domain_b), metadata=root.metadata
    )
    assert list(listed.projects) == []
    shown = await root.projects.ListProjects(
        ppb.ListProjectsRequest(domain_name=world.domain_b, show_deleted=True),
        metadata=root.metadata,
    )
    assert [p.project_id for p in shown.projects] == [world.project_b.project_id]


async def test_keypairs_are_issued_in_the_domain_and_listed_to_their_owner(world: World):
    admin = world.as_user(world.admin_a)
    issued = await admin.keypairs.CreateKeypair(
        kpb.CreateKeypairRequest(user_id=world.user_a.user_id, keypair=kpb.Keypair(rate_limit=50)),
        metadata=admin.metadata,
    )
    assert issued.secret_key and issued.keypair.rate_limit == 50
    assert issued.keypair.resource_policy == "default"
    foreign = admin.keypairs.CreateKeypair(
        kpb.CreateKeypairRequest(user_id=world.user_b.user_id), metadata=admin.metadata
    )
    assert await _code(foreign) is grpc.StatusCode.NOT_FOUND
    owner = world.as_user(world.user_a)
    mine = await owner.keypairs.ListKeypairs(
        kpb.ListKeypairsRequest(user_id="-"), metadata=owner.metadata
    )
    assert [k.access_key for k in mine.keypairs] == [issued.keypair.access_key]
    neighbour = world.as_user(world.user_a2)
    theirs = await neighbour.keypairs.ListKeypairs(
        kpb.ListKeypairsRequest(user_id=world.user_a.user_id), metadata=neighbour.metadata
    )
    assert list(theirs.keypairs) == []
    revoke = owner.keypairs.DeleteKeypair(
        kpb.DeleteKeypairRequest(
            user_id=world.user_a.user_id, access_key=issued.keypair.access_key
        ),
        metadata=owner.metadata,
    )
    assert await _code(revoke) is grpc.StatusCode.PERMISSION_DENIED


async def test_domain_admins_see_only_their_domains_entries_in_access_lists(world: World):
    root = world.root
    group = f"shared-{world.domain_a}"
    await root.access.UpdateResourceGroupAccess(
        rgpb.UpdateResourceGroupAccessRequest(
            access=rgpb.ResourceGroupAccess(
                resource_group=group,
                domain_names=[world.domain_a, world.domain_b],
                project_ids=[world.project_a.project_id, world.project_b.project_id],
            ),
            update_mask=mask("domain_names", "project_ids"),
        ),
        metadata=root.metadata,
    )
    admin = world.as_user(world.admin_a)
    seen = await admin.access.GetResourceGroupAccess(
        rgpb.GetResourceGroupAccessRequest(resource_group=group), metadata=admin.metadata
    )
    assert list(seen.access.domain_names) == [world.domain_a]
    assert list(seen.access.project_ids) == [world.project_a.project_id]
    change = admin.access.UpdateResourceGroupAccess(
        rgpb.UpdateResourceGroupAccessRequest(
            access=rgpb.ResourceGroupAccess(resource_group=group), update_mask=mask("domain_names")
        ),
        metadata=admin.metadata,
    )
    assert await _code(change) is grpc.StatusCode.PERMISSION_DENIED
    unknown = root.access.UpdateResourceGroupAccess(
        rgpb.UpdateResourceGroupAccessRequest(
            access=rgpb.ResourceGroupAccess(resource_group=group, domain_names=["no-such"]),
            update_mask=mask("domain_names"),
        ),
        metadata=root.metadata,
    )
    assert await _code(unknown) is grpc.StatusCode.INVALID_ARGUMENT
