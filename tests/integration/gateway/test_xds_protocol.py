"""The ADS protocol as the control plane speaks it, driven by a test client instead of Envoy:
first responses, ACKs, NACKs (not resent), stale nonces (ignored) and pushes on change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from envoy_data_plane.google.rpc import Status
from pydantic import SecretStr

from gateway.config import EdgeSettings
from gateway.xds import types as t
from gateway.xds.server import ADS_SERVICE, XdsServer
from gateway.xds.state import ControlPlaneState
from tests.integration.gateway.edge_harness import DESCRIPTORS
from tests.integration.gateway.xds_harness import eventually


class Ads:
    """One ADS stream: `send` requests, `recv` responses."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._out: asyncio.Queue[t.DiscoveryRequest | None] = asyncio.Queue()
        method = channel.stream_stream(
            f"/{ADS_SERVICE}/StreamAggregatedResources",
            request_serializer=bytes,
            response_deserializer=t.DiscoveryResponse.FromString,
        )
        self._call = method(self._requests())

    async def _requests(self) -> AsyncIterator[t.DiscoveryRequest]:
        while (request := await self._out.get()) is not None:
            yield request

    def send(
        self,
        type_url: str,
        *,
        version: str = "",
        nonce: str = "",
        names: tuple[str, ...] = (),
        error: str = "",
    ) -> None:
        self._out.put_nowait(
            t.DiscoveryRequest(
                type_url=type_url,
                version_info=version,
                response_nonce=nonce,
                resource_names=list(names),
                node=t.Node(id="test"),
                error_detail=Status(code=3, message=error) if error else None,
            )
        )

    async def recv(self, timeout: float = 3.0) -> t.DiscoveryResponse:
        response = await asyncio.wait_for(self._call.read(), timeout)
        assert isinstance(response, t.DiscoveryResponse)
        return response

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(self._pending()), seconds)
        except TimeoutError:
            return True
        return False

    async def _pending(self) -> object:
        self._next = getattr(self, "_next", None) or asyncio.ensure_future(self._call.read())
        return await self._next

    def close(self) -> None:
        self._out.put_nowait(None)
        self._call.cancel()


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[tuple[ControlPlaneState, Ads]]:
    settings = EdgeSettings(internal_token=SecretStr("t"), descriptor_set=DESCRIPTORS)
    state = ControlPlaneState(settings)
    server = XdsServer(state)
    socket_path = tmp_path / "xds.sock"
    await server.start(socket_path)
    async with grpc.aio.insecure_channel(f"unix:{socket_path}") as channel:
        ads = Ads(channel)
        yield state, ads
        ads.close()
    await server.stop()


async def test_first_request_is_answered_with_every_cluster_and_a_nonce(plane):
    state, ads = plane
    ads.send(t.CLUSTER)

    first = await ads.recv()

    assert first.type_url == t.CLUSTER and first.version_info == state.version(t.CLUSTER)
    assert first.nonce
    names = {a.unpack().name for a in first.resources}  # type: ignore[union-attr]
    assert names == {"auth", "auth-authz", "registry", "scheduler", "storage", "storage-http"}


async def test_ack_is_recorded_and_a_change_is_pushed_with_a_new_version_and_nonce(plane):
    state, ads = plane
    ads.send(t.CLUSTER)
    first = await ads.recv()
    ads.send(t.CLUSTER, version=first.version_info, nonce=first.nonce)

    async def acked() -> bool:  # a change pushed before the ACK is in would make it stale
        return bool(state.replies)

    await eventually(acked)

    state.add_cluster("app", "127.0.0.1:7100")
    pushed = await ads.recv()

    assert int(pushed.version_info) > int(first.version_info)
    assert pushed.nonce != first.nonce
    assert "app" in {a.unpack().name for a in pushed.resources}  # type: ignore[union-attr]
    assert [(r.type_url, r.version, r.error) for r in state.replies] == [
        (t.CLUSTER, first.version_info, "")
    ]


async def test_nack_is_recorded_and_that_version_is_not_sent_again(plane):
    state, ads = plane
    ads.send(t.CLUSTER)
    first = await ads.recv()

    ads.send(t.CLUSTER, version="", nonce=first.nonce, error="bad cluster")

    assert await ads.nothing_within(0.5)
    assert [(r.version, r.error) for r in state.replies] == [(first.version_info, "bad cluster")]


async def test_a_stale_nonce_is_ignored(plane):
    state, ads = plane
    ads.send(t.CLUSTER)
    first = await ads.recv()
    state.add_cluster("app", "127.0.0.1:7100")
    second = await ads.recv()  # pushed before Envoy answered the first

    ads.send(t.CLUSTER, version=first.version_info, nonce=first.nonce)  # answers the old one
    ads.send(t.CLUSTER, version=second.version_info, nonce=second.nonce)
    await asyncio.sleep(0.2)

    assert [(r.version, r.error) for r in state.replies] == [(second.version_info, "")]


async def test_endpoints_are_sent_only_for_the_clusters_asked_for(plane):
    _, ads = plane
    ads.send(t.ENDPOINT, names=("registry",))

    response = await ads.recv()

    assert [a.unpack().cluster_name for a in response.resources] == ["registry"]  # type: ignore[union-attr]
