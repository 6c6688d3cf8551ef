"""Which architectures an image can run on, as CreateSession asks on every create: exactly
those of the agents that have it, however many agents there are of each."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from libs.core.ids import new_id
from services.registry.adapters.image_store import SqlImageStore
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import registration

pytestmark = pytest.mark.integration


async def test_only_architectures_whose_agents_have_the_image(stores: Stores) -> None:
    image = f"cr.test/arch-{new_id()[:8]}/app:1"
    other = f"cr.test/arch-{new_id()[:8]}/other:1"
    now = datetime.now(UTC)
    layout = [
        ("arm64", (other,)),  # the first arm64 agents lack it: the search goes on
        ("arm64", (other,)),
        ("arm64", (image, other)),
        ("amd64", (other,)),  # no amd64 agent has it
        ("riscv64", (image,)),
        ("", (image,)),  # an agent that did not say: no architecture to offer
    ]
    for arch, images in layout:
        reg = replace(registration(f"agent-{new_id()[:8]}"), architecture=arch, images=images)
        await stores.agents.register(reg, now)
    found = await SqlImageStore(stores.factory).agent_architectures(image)
    assert found == ["arm64", "riscv64"]
    assert await SqlImageStore(stores.factory).agent_architectures(f"{image}-missing") == []
