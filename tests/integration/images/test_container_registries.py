"""Container registries and rescans against a real docker-registry holding pushed images
(credentials: test_registry_credentials.py)."""

from __future__ import annotations

import grpc
import pytest
from shipyard.registry.v1 import container_registry_service_pb2 as cr_pb
from shipyard.registry.v1 import image_service_pb2 as img_pb

from libs.core.identity import Role
from tests.integration.images.helpers import (
    add_registry,
    all_images,
    expect_code,
    mask,
    rescan,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def scanned(platform, docker_registry) -> cr_pb.RescanTask:
    await add_registry(platform, docker_registry.host, docker_registry.url)
    return await rescan(platform, docker_registry.host)


async def test_a_rescan_finds_every_tag_with_labels_and_architectures(
    platform, docker_registry, scanned
):
    task = scanned

    assert task.state == cr_pb.RescanTask.STATE_SUCCEEDED, task.error
    assert (task.done, task.total) == (7, 7)
    assert task.progress == 1.0
    assert task.updated == 8  # 2 multi-arch tags count twice; the unlabelled image is skipped
    assert "skipped other/plain:latest/amd64 (missing ai.backend.kernelspec)" in task.messages
    assert task.HasField("finish_time")

    images = await all_images(
        platform, await platform.user(), container_registry=docker_registry.host
    )
    found = {(i.name, i.architecture) for i in images}
    host = docker_registry.host
    assert found == {
        (f"{host}/shipyard/busybox:1", "amd64"),
        (f"{host}/shipyard/busybox:2", "amd64"),
        (f"{host}/shipyard/busybox:arm", "arm64"),
        (f"{host}/shipyard/busybox:multi", "amd64"),
        (f"{host}/shipyard/busybox:multi", "arm64"),
        (f"{host}/shipyard/docker:1", "amd64"),
        (f"{host}/shipyard/docker:multi", "amd64"),
        (f"{host}/shipyard/docker:multi", "arm64"),
    }
    one = next(i for i in images if i.name.endswith("busybox:1"))
    assert one.repository == "shipyard/busybox" and one.tag == "1" and one.registry == host
    assert one.runtime_path == "/usr/bin/python3"
    assert list(one.features) == ["batch", "query", "uid-match"]
    assert [(p.name, p.protocol, list(p.container_ports)) for p in one.service_ports] == [
        ("jupyter", "http", [8080]),
        ("ttyd", "http", [7681, 7682]),
    ]
    assert dict(one.min_resources) == {"cpu": "1", "mem": str(512 * 1024**2)}
    assert one.labels["ai.backend.kernelspec"] == "1"
    assert one.config_digest.startswith("sha256:") and one.manifest_digest.startswith("sha256:")
    assert one.size_bytes > 500_000  # the busybox layer


async def test_a_second_rescan_updates_rather_than_duplicates(platform, docker_registry, scanned):
    first = await all_images(platform, platform.superadmin, container_registry=docker_registry.host)
    task = await rescan(platform, docker_registry.host)
    assert task.state == cr_pb.RescanTask.STATE_SUCCEEDED
    again = await all_images(platform, platform.superadmin, container_registry=docker_registry.host)
    assert [i.image_id for i in again] == [i.image_id for i in first]


async def test_images_page_through_in_name_order(platform, docker_registry, scanned):
    whole = await all_images(
        platform, await platform.user(), container_registry=docker_registry.host
    )
    paged = await all_images(
        platform, await platform.user(), page_size=2, container_registry=docker_registry.host
    )
    assert [i.image_id for i in paged] == [i.image_id for i in whole]
    arm = await all_images(
        platform, await platform.user(), architecture="aarch64"
    )  # spelled as uname says
    assert {i.architecture for i in arm} == {"arm64"}
    await expect_code(
        platform.images.ListImages(
            img_pb.ListImagesRequest(page_token="not-a-token"),
            metadata=platform.as_caller(await platform.user()),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def test_update_takes_only_the_masked_fields(platform):
    await add_registry(platform, "mask.example", "https://mask.example")
    updated = await platform.registries.UpdateContainerRegistry(
        cr_pb.UpdateContainerRegistryRequest(
            container_registry=cr_pb.ContainerRegistry(
                name="mask.example", url="https://ignored.example", username="ci"
            ),
            update_mask=mask("username"),
        ),
        metadata=platform.as_caller(platform.superadmin),
    )
    assert updated.container_registry.url == "https://mask.example"
    assert updated.container_registry.username == "ci"
    assert updated.container_registry.ssl_verify  # unset at create: TLS is verified
    insecure = await platform.registries.UpdateContainerRegistry(
        cr_pb.UpdateContainerRegistryRequest(
            container_registry=cr_pb.ContainerRegistry(name="mask.example"),  # ssl_verify unset
            update_mask=mask("ssl_verify"),
        ),
        metadata=platform.as_caller(platform.superadmin),
    )
    assert not insecure.container_registry.ssl_verify
    err = await expect_code(
        platform.registries.UpdateContainerRegistry(
            cr_pb.UpdateContainerRegistryRequest(
                container_registry=cr_pb.ContainerRegistry(name="mask.example"),
                update_mask=mask("name"),
            ),
            metadata=platform.as_caller(platform.superadmin),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "update_mask" in (err.details() or "")


async def test_an_unreachable_registry_fails_its_task_with_the_reason(platform, docker_registry):
    from tests.integration.images.registry_server import free_port

    name = f"127.0.0.1:{free_port()}"
    await add_registry(platform, name, f"http://{name}")
    task = await rescan(platform, name)
    assert task.state == cr_pb.RescanTask.STATE_FAILED
    assert name in task.error


async def test_users_cannot_touch_registries_admins_only_read(platform, docker_registry, scanned):
    for role in (Role.USER, Role.ADMIN, Role.MONITOR):
        await expect_code(
            platform.registries.CreateContainerRegistry(
                cr_pb.CreateContainerRegistryRequest(
                    container_registry=cr_pb.ContainerRegistry(name="x.example", url="https://x")
                ),
                metadata=platform.as_caller(await platform.user(role)),
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        await expect_code(
            platform.registries.RescanContainerRegistry(
                cr_pb.RescanContainerRegistryRequest(name=docker_registry.host),
                metadata=platform.as_caller(await platform.user(role)),
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    await expect_code(
        platform.registries.ListContainerRegistries(
            cr_pb.ListContainerRegistriesRequest(),
            metadata=platform.as_caller(await platform.user()),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    for role in (Role.ADMIN, Role.MONITOR):
        listed = await platform.registries.ListContainerRegistries(
            cr_pb.ListContainerRegistriesRequest(),
            metadata=platform.as_caller(await platform.user(role)),
        )
        assert listed.container_registries


async def test_a_missing_url_and_a_duplicate_name_are_refused(platform):
    await expect_code(
        platform.registries.CreateContainerRegistry(
            cr_pb.CreateContainerRegistryRequest(
                container_registry=cr_pb.ContainerRegistry(name="nourl.example")
            ),
            metadata=platform.as_caller(platform.superadmin),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await add_registry(platform, "dup.example", "https://dup.example")
    await expect_code(
        platform.registries.CreateContainerRegistry(
            cr_pb.CreateContainerRegistryRequest(
                container_registry=cr_pb.ContainerRegistry(name="dup.example", url="https://d")
            ),
            metadata=platform.as_caller(platform.superadmin),
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )


async def test_deleting_a_registry_forgets_its_images(platform, tmp_path):
    from tests.integration.images.oci_images import KERNEL_LABELS, build_layout, push
    from tests.integration.images.registry_server import start_registry

    server = start_registry(tmp_path)
    try:
        build_layout(tmp_path / "layout", {"x": (["amd64"], KERNEL_LABELS)})
        push(tmp_path / "layout", "x", f"{server.host}/tmp/one:1")
        await add_registry(platform, server.host, server.url)
        assert (await rescan(platform, server.host)).updated == 1
        assert await all_images(platform, platform.superadmin, container_registry=server.host)
        await platform.registries.DeleteContainerRegistry(
            cr_pb.DeleteContainerRegistryRequest(name=server.host),
            metadata=platform.as_caller(platform.superadmin),
        )
        assert await all_images(platform, platform.superadmin, container_registry=server.host) == []
        await expect_code(
            platform.registries.GetContainerRegistry(
                cr_pb.GetContainerRegistryRequest(name=server.host),
                metadata=platform.as_caller(platform.superadmin),
            ),
            grpc.StatusCode.NOT_FOUND,
        )
    finally:
        server.stop()
