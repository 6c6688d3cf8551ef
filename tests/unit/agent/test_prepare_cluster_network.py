"""PrepareClusterNetwork: refuses clearly where cluster networking is impossible or ambiguous."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from libs.core.errors import FailedPrecondition, InvalidArgument
from services.agent.service.cluster_network import (
    CLUSTER_NETWORK_UNSUPPORTED,
    PrepareClusterNetwork,
)


class Published:
    async def prepare(
        self, session_id: str, kernels: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        return [(host, f"10.0.0.{n + 2}") for n, (_, host) in enumerate(kernels)]


async def test_a_backend_without_cluster_networking_says_so() -> None:
    prepare = PrepareClusterNetwork(None, "container")
    with pytest.raises(FailedPrecondition) as caught:
        await prepare("s1", [("k1", "main1")])
    assert caught.value.reason == CLUSTER_NETWORK_UNSUPPORTED
    assert "container backend" in caught.value.message


async def test_duplicate_host_names_are_refused_naming_the_field() -> None:
    prepare = PrepareClusterNetwork(Published(), "process")
    with pytest.raises(InvalidArgument) as caught:
        await prepare("s1", [("k1", "sub1"), ("k2", "sub1")])
    assert caught.value.violations[0].field == "kernels"


async def test_published_addresses_come_back_per_host_name() -> None:
    prepare = PrepareClusterNetwork(Published(), "process")
    assert await prepare("s1", [("k1", "main1"), ("k2", "sub1")]) == [
        ("main1", "10.0.0.2"),
        ("sub1", "10.0.0.3"),
    ]
