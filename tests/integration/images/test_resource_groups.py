"""Resource groups: who may read and write them, and what refers to them."""

from __future__ import annotations

import secrets

import grpc
import pytest
from shipyard.registry.v1 import agent_registry_service_pb2 as agent_pb
from shipyard.registry.v1 import resource_group_service_pb2 as rg_pb
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.type.v1 import resources_pb2

from libs.core.identity import Role
from tests.integration.images.conftest import Platform
from tests.integration.images.helpers import expect_code, mask
from tests.integration.images.test_session_images import create, register_agent
from tests.integration.storage.helpers import violated_fields

pytestmark = pytest.mark.integration

PYTHON = "docker.io/library/python:3.11"


async def add(platform: Platform, caller=None, *, active: bool = True, allowed: bool = True) -> str:
    """A new group open to the test domain in auth, made by the superadmin unless told."""
    name = f"rg-{secrets.token_hex(4)}"
    reply = await platform.groups.CreateResourceGroup(
        rg_pb.CreateResourceGroupRequest(
            resource_group=rg_pb.ResourceGroup(name=name, description="gpu nodes", is_active=active)
        ),
        metadata=platform.as_caller(caller or platform.superadmin),
    )
    assert reply.resource_group.name == name and reply.resource_group.create_time.seconds > 0
    if allowed:
        await platform.allow(name)
    return name


async def names(platform: Platform, caller, page_size: int = 0) -> list[str]:
    found: list[str] = []
    token = ""
    while True:
        page = await platform.groups.ListResourceGroups(
            rg_pb.ListResourceGroupsRequest(page_size=page_size, page_token=token),
            metadata=platform.as_caller(caller),
        )
        found += [g.name for g in page.resource_groups]
        token = page.next_page_token
        if not token:
            return found


async def test_the_default_group_exists_from_the_first_migration(platform):
    reply = await platform.groups.GetResourceGroup(
        rg_pb.GetResourceGroupRequest(name="default"),
        metadata=platform.as_caller(await platform.user()),
    )
    assert reply.resource_group.is_active


async def test_only_superadmins_create_and_delete_admins_update(platform):
    for role in (Role.USER, Role.ADMIN, Role.MONITOR):
        await expect_code(
            add(platform, await platform.user(role)), grpc.StatusCode.PERMISSION_DENIED
        )
    name = await add(platform)
    updated = await platform.groups.UpdateResourceGroup(
        rg_pb.UpdateResourceGroupRequest(
            resource_group=rg_pb.ResourceGroup(name=name, description="renamed", is_active=True),
            update_mask=mask("description"),
        ),
        metadata=platform.as_caller(await platform.user(Role.ADMIN)),
    )
    assert updated.resource_group.description == "renamed"
    await expect_code(
        platform.groups.UpdateResourceGroup(
            rg_pb.UpdateResourceGroupRequest(
                resource_group=rg_pb.ResourceGroup(name=name, description="x"),
                update_mask=mask("description"),
            ),
            metadata=platform.as_caller(await platform.user()),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    for role in (Role.USER, Role.ADMIN):
        await expect_code(
            platform.groups.DeleteResourceGroup(
                rg_pb.DeleteResourceGroupRequest(name=name),
                metadata=platform.as_caller(await platform.user(role)),
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    await platform.groups.DeleteResourceGroup(
        rg_pb.DeleteResourceGroupRequest(name=name),
        metadata=platform.as_caller(platform.superadmin),
    )
    await expect_code(
        platform.groups.GetResourceGroup(
            rg_pb.GetResourceGroupRequest(name=name),
            metadata=platform.as_caller(platform.superadmin),
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_users_see_active_groups_admins_and_monitors_all(platform):
    active, inactive = await add(platform), await add(platform, active=False)
    seen = await names(platform, await platform.user(), page_size=1)
    assert active in seen and inactive not in seen
    await expect_code(
        platform.groups.GetResourceGroup(
            rg_pb.GetResourceGroupRequest(name=inactive),
            metadata=platform.as_caller(await platform.user()),
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    for role in (Role.ADMIN, Role.MONITOR):
        assert {active, inactive} <= set(await names(platform, await platform.user(role)))


async def test_sessions_need_a_known_active_group(platform):
    # Auth's allow-list may name a group the registry does not know: the registry's own table
    # then refuses it.
    await platform.allow("no-such-group")
    err = await expect_code(
        create(platform, await platform.user(), image=PYTHON, resource_group="no-such-group"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violated_fields(err) == ["resource_group"]
    assert "no-such-group" in (err.details() or "")
    # A group that exists but auth does not open to the caller's domain looks like none at all.
    closed = await add(platform, allowed=False)
    err = await expect_code(
        create(platform, await platform.user(), image=PYTHON, resource_group=closed),
        grpc.StatusCode.NOT_FOUND,
    )
    assert closed in (err.details() or "")

    name = await add(platform)
    await register_agent(platform, name, arch="amd64", images=(PYTHON,))
    await platform.groups.UpdateResourceGroup(
        rg_pb.UpdateResourceGroupRequest(
            resource_group=rg_pb.ResourceGroup(name=name, is_active=False),
            update_mask=mask("is_active"),
        ),
        metadata=platform.as_caller(platform.superadmin),
    )
    err = await expect_code(
        create(platform, await platform.user(), image=PYTHON, resource_group=name),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "resource_group" in (err.details() or "") and "inactive" in (err.details() or "")


async def test_a_group_with_agents_or_live_sessions_cannot_be_deleted(platform):
    name = await add(platform)
    agent_id = await register_agent(platform, name, arch="amd64", images=(PYTHON,))
    err = await expect_code(
        platform.groups.DeleteResourceGroup(
            rg_pb.DeleteResourceGroupRequest(name=name),
            metadata=platform.as_caller(platform.superadmin),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "1 live agents" in (err.details() or "")
    # The agent moves to another group; a session still waits (PENDING) in this one.
    await register_agent_as(platform, agent_id, "default")
    session = await create(platform, await platform.user(), image=PYTHON, resource_group=name)
    err = await expect_code(
        platform.groups.DeleteResourceGroup(
            rg_pb.DeleteResourceGroupRequest(name=name),
            metadata=platform.as_caller(platform.superadmin),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "1 live sessions" in (err.details() or "")
    await platform.sessions.DestroySession(
        pb.DestroySessionRequest(session_id=session.session_id, forced=True),
        metadata=platform.as_caller(platform.superadmin),
    )
    await platform.groups.DeleteResourceGroup(
        rg_pb.DeleteResourceGroupRequest(name=name),
        metadata=platform.as_caller(platform.superadmin),
    )


async def test_an_agent_cannot_join_an_unknown_group(platform):
    err = await expect_code(
        register_agent_as(platform, f"agent-{secrets.token_hex(4)}", "no-such-group"),
        grpc.StatusCode.NOT_FOUND,
    )
    assert "no-such-group" in (err.details() or "")


async def register_agent_as(platform: Platform, agent_id: str, group: str) -> None:
    await platform.agents.RegisterAgent(
        agent_pb.RegisterAgentRequest(
            agent_id=agent_id,
            address="127.0.0.1:1",
            resource_group=group,
            available_slots=resources_pb2.ResourceSlots(amounts={"cpu": "1", "mem": "1000"}),
            backend="process",
            architecture="amd64",
        ),
        metadata=platform.as_system(),
    )
