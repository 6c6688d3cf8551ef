"""Registries, rescans, images and resource groups over REST through the edge."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.cli_as_user import cli_ok
from tests.integration.images.oci_images import KERNEL_LABELS, build_layout, push
from tests.integration.images.registry_server import RegistryServer, start_registry


@pytest.fixture(scope="module")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    workdir: Path = tmp_path_factory.mktemp("edge-registry")
    server = start_registry(workdir)
    try:
        build_layout(workdir / "layout", {"bb": (["amd64", "arm64"], KERNEL_LABELS)})
        push(workdir / "layout", "bb", f"{server.host}/kernels/busybox:1")
        yield server
    finally:
        server.stop()


async def test_a_superadmin_configures_rescans_and_lists_over_rest(
    client: ShipyardClient, docker_registry: RegistryServer
) -> None:
    name = docker_registry.host
    created = await client.request(
        "POST",
        "/v1/container-registries",
        body={"name": name, "url": docker_registry.url, "username": "u", "password": "p"},
    )
    assert created["container_registry"]["has_password"] is True
    assert created["container_registry"].get("password", "") == ""  # never echoed

    got = await client.request("GET", f"/v1/container-registries/{name}")
    assert got["container_registry"]["url"] == docker_registry.url

    patched = await client.request(
        "PATCH",
        f"/v1/container-registries/{name}",
        body={"username": "", "password": "", "ssl_verify": True},
        params={"update_mask": "username,password"},
    )
    assert patched["container_registry"]["has_password"] is False

    started = await client.request("POST", f"/v1/container-registries/{name}:rescan", body={})
    task = started["task"]
    deadline = time.monotonic() + 30
    while task["state"] == "STATE_RUNNING":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
        task = (await client.request("GET", f"/v1/rescan-tasks/{task['task_id']}"))["task"]
    assert task["state"] == "STATE_SUCCEEDED", task
    assert task["done"] == task["total"] == 1 and task["updated"] == 2

    images = await client.request("GET", "/v1/images", params={"container_registry": name})
    assert sorted(i["architecture"] for i in images["images"]) == ["amd64", "arm64"]
    assert images["images"][0]["name"] == f"{name}/kernels/busybox:1"


async def test_resource_groups_over_rest(client: ShipyardClient) -> None:
    await client.request(
        "POST",
        "/v1/resource-groups",
        body={"name": "edge-rg", "description": "d", "is_active": True},
    )
    # Auth's allow-list lets the default domain use it; the group's own state is the registry's.
    await client.request(
        "PATCH",
        "/v1/resource-groups/edge-rg/access",
        body={"domain_names": ["default"]},
        params={"update_mask": "domain_names"},
    )
    listed = await client.request("GET", "/v1/resource-groups", params={"page_size": 100})
    assert {"default", "edge-rg"} <= {g["name"] for g in listed["resource_groups"]}
    patched = await client.request(
        "PATCH",
        "/v1/resource-groups/edge-rg",
        body={"is_active": False},
        params={"update_mask": "is_active"},
    )
    assert patched["resource_group"].get("is_active", False) is False
    with pytest.raises(ApiError) as err:
        await client.create_session(resource_group="edge-rg")
    assert err.value.status == 400 and "resource_group" in str(err.value.body)
    await client.request("DELETE", "/v1/resource-groups/edge-rg")
    with pytest.raises(ApiError) as err:
        await client.request("DELETE", "/v1/resource-groups/default")  # the agent is in it
    assert err.value.status == 400 and "live agents" in str(err.value.body)


async def test_the_admin_cli_prints_tables_and_json(platform: Platform) -> None:
    async def shipyard(*argv: str, stdin: str = "") -> str:
        return await cli_ok(platform, platform.keypair, *argv, stdin=stdin)

    created = await shipyard(
        "admin", "resource-group", "create", "cli-rg", "--description", "from cli"
    )
    assert created.splitlines()[0].split() == ["NAME", "IS_ACTIVE", "DESCRIPTION"]
    assert "cli-rg" in created and "from cli" in created
    listed = json.loads(await shipyard("admin", "resource-group", "list", "--json"))
    assert "cli-rg" in {g["name"] for g in listed}
    await shipyard("admin", "resource-group", "update", "cli-rg", "--no-active")
    got = json.loads(await shipyard("admin", "resource-group", "get", "cli-rg", "--json"))
    assert got["is_active"] is False

    registry = await shipyard(
        "admin",
        "registry",
        "create",
        "cli.example",
        "--url",
        "https://cli.example",
        "--username",
        "bot",
        "--password-stdin",
        "--json",
        stdin="s3cret\n",
    )
    assert json.loads(registry)["has_password"] is True and "s3cret" not in registry
    table = await shipyard("admin", "registry", "list")
    assert "cli.example" in table and "s3cret" not in table
    await shipyard("admin", "registry", "delete", "cli.example")
    await shipyard("admin", "resource-group", "delete", "cli-rg")
