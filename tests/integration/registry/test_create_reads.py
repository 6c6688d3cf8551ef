"""CreateSession's image and resource-group lookups on the read pool (plain asyncpg) return what
the ORM path returns: the same images with their labels, aliases, architectures and groups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from libs.core.ids import new_id
from libs.db.reads import ReadPool
from services.registry.adapters.image_store import SqlImageStore
from services.registry.adapters.resource_group_store import SqlResourceGroupStore
from services.registry.domain.errors import ResourceGroupNotFound
from services.registry.domain.group_scheduling import GroupScheduling
from services.registry.domain.images import ImageRef, ResourceGroup, ScannedImage
from services.registry.domain.utilization import UtilizationPolicy
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import registration

pytestmark = pytest.mark.integration


@pytest.fixture
async def reads(registry_db: str) -> AsyncIterator[ReadPool]:
    pool = ReadPool(registry_db, size=1)
    await pool.open()
    yield pool
    await pool.close()


async def test_image_lookups_match_the_orm(stores: Stores, reads: ReadPool) -> None:
    ref = ImageRef(registry="cr.test", repository=f"reads-{new_id()[:8]}/app", tag="1")
    now = datetime.now(UTC)
    orm, pooled = SqlImageStore(stores.factory), SqlImageStore(stores.factory, reads)
    for arch in ("arm64", "amd64"):
        labels = {"ai.backend.kernelspec": "1", "ai.backend.resource.min.mem": "64m"}
        scanned = ScannedImage(
            ref=ref,
            architecture=arch,
            config_digest=f"sha256:{arch}",
            manifest_digest=f"sha256:m{arch}",
            size_bytes=123,
            labels=labels,
        )
        await orm.upsert("cr", scanned, now)
    alias = f"reads-{new_id()[:8]}"
    await orm.create_alias(alias, ref.canonical, now)
    reg = replace(registration(f"agent-{new_id()[:8]}"), architecture="riscv64")
    await stores.agents.register(replace(reg, images=(ref.canonical,)), now)

    assert await pooled.alias_target(alias) == ref.canonical
    assert await pooled.alias_target(f"{alias}-missing") is None
    images = await pooled.by_name(ref.canonical)
    # The ORM's listing also names the aliases; the lookup by name never did.
    assert images == [replace(i, aliases=()) for i in await orm.by_name(ref.canonical)]
    assert [i.architecture for i in images] == ["amd64", "arm64"]
    assert images[0].spec.min_resources  # the labels parsed as the ORM path parses them
    assert await pooled.agent_architectures(ref.canonical) == ["riscv64"]
    assert await orm.agent_architectures(ref.canonical) == ["riscv64"]
    assert await pooled.by_name(f"{ref.canonical}-missing") == []


async def test_resource_group_lookup_matches_the_orm(stores: Stores, reads: ReadPool) -> None:
    orm = SqlResourceGroupStore(stores.factory)
    pooled = SqlResourceGroupStore(stores.factory, reads)
    policy = UtilizationPolicy(window=timedelta(minutes=5), thresholds={"cpu_util": 10.0})
    scheduling = GroupScheduling(
        scheduler="drf",
        allowed_session_types=("batch",),
        pending_timeout_seconds=30,
        idle_utilization=policy,
    )
    group = ResourceGroup(
        name=f"reads-{new_id()[:8]}",
        description="for the read pool",
        is_active=False,
        created_at=datetime.now(UTC),
        scheduling=scheduling,
    )
    await orm.create(group)
    assert await pooled.get(group.name) == await orm.get(group.name)
    assert (await pooled.get(group.name)).scheduling.idle_utilization == policy
    with pytest.raises(ResourceGroupNotFound):
        await pooled.get(f"{group.name}-missing")
