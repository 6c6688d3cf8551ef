"""CreateSession against known images and resource groups; the scheduler matches architectures."""

from __future__ import annotations

import secrets

import grpc
import pytest
from shipyard.registry.v1 import agent_registry_service_pb2 as agent_pb
from shipyard.registry.v1 import image_service_pb2 as img_pb
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.type.v1 import resources_pb2

from libs.core.agent_credentials import rpc_fields, sign
from libs.core.identity import Role
from tests.integration.images.helpers import add_registry, expect_code, rescan
from tests.integration.images.session_helpers import (
    MiB,
    create,
    new_group,
    register_agent,
    wait_for,
)
from tests.integration.storage.helpers import violated_fields

pytestmark = pytest.mark.integration

PYTHON = "docker.io/library/python:3.11"


@pytest.fixture(scope="module")
async def scanned(platform, docker_registry) -> str:
    await add_registry(platform, docker_registry.host, docker_registry.url)
    await rescan(platform, docker_registry.host)
    return docker_registry.host


async def test_an_image_below_its_resource_minimum_is_refused_naming_the_slot(platform, scanned):
    group = await new_group(platform)
    await register_agent(platform, group, arch="amd64")
    err = await expect_code(
        create(
            platform,
            await platform.user(),
            image=f"{scanned}/shipyard/busybox:1",
            resource_group=group,
            resources={"cpu": "1", "mem": str(256 * MiB)},
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violated_fields(err) == ["resources.mem"]
    assert str(512 * MiB) in (err.details() or "")  # the minimum, in bytes
    ok = await create(
        platform, await platform.user(), image=f"{scanned}/shipyard/busybox:1", resource_group=group
    )
    assert ok.image == f"{scanned}/shipyard/busybox:1"


async def test_an_unknown_image_is_not_found_naming_it(platform, scanned):
    group = await new_group(platform)
    err = await expect_code(
        create(
            platform,
            await platform.user(),
            image=f"{scanned}/shipyard/nothing:1",
            resource_group=group,
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert "shipyard/nothing:1" in (err.details() or "")
    assert violated_fields(err) == ["image"]


async def test_arch_mismatch_stays_pending_with_the_reason(platform, scanned):
    group = await new_group(platform)
    await register_agent(platform, group, arch="amd64")
    caller = await platform.user()
    arm_only = await create(
        platform, caller, image=f"{scanned}/shipyard/busybox:arm", resource_group=group
    )
    pending = await wait_for(
        platform, caller, arm_only.session_id, lambda s: s.status_info == "no-matching-architecture"
    )
    assert pending.status == pb.SESSION_STATUS_PENDING
    assert "arm64" in pending.status_message and "amd64" in pending.status_message

    # The multi-arch image has an amd64 variant: it is placed on the same agent.
    multi = await create(
        platform, caller, image=f"{scanned}/shipyard/busybox:multi", resource_group=group
    )
    placed = await wait_for(
        platform, caller, multi.session_id, lambda s: s.status != pb.SESSION_STATUS_PENDING
    )
    assert placed.kernels[0].agent_id

    # An arm64 agent joins: the arm-only session is placed there.
    arm_agent = await register_agent(platform, group, arch="aarch64")
    placed = await wait_for(
        platform, caller, arm_only.session_id, lambda s: s.status != pb.SESSION_STATUS_PENDING
    )
    assert placed.kernels[0].agent_id == arm_agent


async def test_the_agent_that_has_the_image_is_preferred(platform, scanned):
    group = await new_group(platform)
    image = f"{scanned}/shipyard/busybox:2"
    await register_agent(platform, group, arch="amd64")
    with_image = await register_agent(platform, group, arch="amd64", images=(image,), first="z")
    await register_agent(platform, group, arch="amd64")
    caller = await platform.user()
    session = await create(platform, caller, image=image, resource_group=group)
    placed = await wait_for(
        platform, caller, session.session_id, lambda s: s.status != pb.SESSION_STATUS_PENDING
    )
    assert placed.kernels[0].agent_id == with_image


async def test_the_default_image_is_the_process_agents_builtin_python(platform):
    group = await new_group(platform)
    await register_agent(platform, group, arch="amd64", images=(PYTHON,))
    session = await create(platform, await platform.user(), resource_group=group)
    assert session.image == PYTHON
    aliased = await create(
        platform, await platform.user(), image="python:3.11", resource_group=group
    )
    assert aliased.image == PYTHON


async def test_aliases_resolve_and_only_superadmins_manage_them(platform, scanned):
    group = await new_group(platform)
    await register_agent(platform, group, arch="amd64")
    target = f"{scanned}/shipyard/busybox:2"
    alias = f"bb-{secrets.token_hex(3)}"
    for role in (Role.USER, Role.ADMIN, Role.MONITOR):
        await expect_code(
            platform.images.CreateImageAlias(
                img_pb.CreateImageAliasRequest(
                    image_alias=img_pb.ImageAlias(alias=alias, target=target)
                ),
                metadata=platform.as_caller(await platform.user(role)),
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    await platform.images.CreateImageAlias(
        img_pb.CreateImageAliasRequest(image_alias=img_pb.ImageAlias(alias=alias, target=target)),
        metadata=platform.as_caller(platform.superadmin),
    )
    session = await create(platform, await platform.user(), image=alias, resource_group=group)
    assert session.image == target
    listed = await platform.images.ListImages(
        img_pb.ListImagesRequest(page_size=1000), metadata=platform.as_caller(await platform.user())
    )
    assert alias in next(i for i in listed.images if i.name == target).aliases

    await platform.images.DeleteImageAlias(
        img_pb.DeleteImageAliasRequest(alias=alias),
        metadata=platform.as_caller(platform.superadmin),
    )
    await expect_code(
        create(platform, await platform.user(), image=alias, resource_group=group),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_forgetting_an_image_makes_it_unknown_to_new_sessions(platform, scanned):
    group = await new_group(platform)
    listed = await platform.images.ListImages(
        img_pb.ListImagesRequest(page_size=1000, container_registry=scanned),
        metadata=platform.as_caller(await platform.user()),
    )
    image = next(i for i in listed.images if i.name.endswith("busybox:arm"))
    await expect_code(
        platform.images.DeleteImage(
            img_pb.DeleteImageRequest(image_id=image.image_id),
            metadata=platform.as_caller(await platform.user()),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await platform.images.DeleteImage(
        img_pb.DeleteImageRequest(image_id=image.image_id),
        metadata=platform.as_caller(platform.superadmin),
    )
    await expect_code(
        platform.images.GetImage(
            img_pb.GetImageRequest(image_id=image.image_id),
            metadata=platform.as_caller(await platform.user()),
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_code(
        create(platform, await platform.user(), image=image.name, resource_group=group),
        grpc.StatusCode.NOT_FOUND,
    )
    await rescan(platform, scanned)  # the next rescan finds it again


async def test_a_heartbeat_with_a_new_inventory_reaches_the_cluster_view_and_the_scheduler(
    platform, scanned
):
    from shipyard.registry.v1 import cluster_service_pb2 as cluster_pb
    from shipyard.registry.v1 import cluster_service_pb2_grpc as cluster_grpc

    group = await new_group(platform)
    image = f"{scanned}/shipyard/busybox:2"
    await register_agent(platform, group, arch="amd64")
    later = await register_agent(platform, group, arch="amd64", first="z")
    registered = await platform.agents.RegisterAgent(
        agent_pb.RegisterAgentRequest(
            agent_id=later,
            address="127.0.0.1:1",
            resource_group=group,
            available_slots=resources_pb2.ResourceSlots(
                amounts={"cpu": "4", "mem": str(4 * 1024**3)}
            ),
            backend="container",
            architecture="amd64",
        ),
        metadata=platform.as_system(),
    )
    proof = sign(registered.agent_secret, rpc_fields("Heartbeat", later))
    await platform.agents.Heartbeat(
        agent_pb.HeartbeatRequest(agent_id=later, images=[image], agent_proof=proof),
        metadata=platform.as_system(),
    )
    cluster = cluster_grpc.ClusterServiceStub(platform.channel)
    agents = await cluster.ListAgents(
        cluster_pb.ListAgentsRequest(), metadata=platform.as_caller(await platform.user(Role.ADMIN))
    )
    shown = next(a for a in agents.agents if a.agent_id == later)
    assert (shown.architecture, list(shown.images), shown.backend) == (
        "amd64",
        [image],
        "container",
    )
    caller = await platform.user()
    session = await create(platform, caller, image=image, resource_group=group)
    placed = await wait_for(
        platform, caller, session.session_id, lambda s: s.status != pb.SESSION_STATUS_PENDING
    )
    assert placed.kernels[0].agent_id == later


async def test_a_process_agent_never_gets_an_image_it_does_not_have(platform, scanned):
    group = await new_group(platform)
    await register_agent(platform, group, arch="amd64", images=(PYTHON,), backend="process")
    caller = await platform.user()
    session = await create(
        platform, caller, image=f"{scanned}/shipyard/busybox:2", resource_group=group
    )
    pending = await wait_for(
        platform, caller, session.session_id, lambda s: s.status_info == "image-not-available"
    )
    assert "busybox:2" in pending.status_message and "process" in pending.status_message
