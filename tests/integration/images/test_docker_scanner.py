"""The v2 scanner itself against the real registry: Link pagination and manifest kinds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.registry.adapters.docker_registry import DockerRegistryScanner
from services.registry.domain.images import ContainerRegistry, RegistryCredentials, RegistryType
from tests.integration.images.conftest import PUSHED

pytestmark = pytest.mark.integration


def _scanner(docker_registry, page_size: int) -> DockerRegistryScanner:
    registry = ContainerRegistry(
        name=docker_registry.host,
        url=docker_registry.url,
        type=RegistryType.DOCKER,
        username="",
        has_password=False,
        ssl_verify=True,
        created_at=datetime.now(UTC),
    )
    return DockerRegistryScanner(
        RegistryCredentials(registry=registry, password=""), page_size=page_size
    )


async def test_catalog_and_tags_are_followed_across_link_pages(docker_registry):
    scanner = _scanner(docker_registry, page_size=1)
    try:
        found = sorted([f"{repo}:{tag}" async for repo, tag in scanner.tags()])
    finally:
        await scanner.close()
    assert found == sorted(PUSHED)


async def test_an_index_yields_one_image_per_platform_and_a_missing_tag_is_skipped(
    docker_registry,
):
    scanner = _scanner(docker_registry, page_size=100)
    try:
        multi = await scanner.scan("shipyard/busybox", "multi")
        gone = await scanner.scan("shipyard/busybox", "no-such-tag")
    finally:
        await scanner.close()
    assert sorted(i.architecture for i in multi.images) == ["amd64", "arm64"]
    assert len({i.manifest_digest for i in multi.images}) == 2
    assert all(i.labels["ai.backend.kernelspec"] == "1" for i in multi.images)
    assert gone.skipped == "missing or deleted" and gone.images == ()
