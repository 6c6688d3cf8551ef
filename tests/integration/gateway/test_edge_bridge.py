"""Streaming RPCs through the edge as browsers use them: SSE and WebSockets (docs/streaming.md),
against a test-only service with one server-streaming and one bidi RPC."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.config import PUBLIC_SERVICES
from gateway.launcher import EnvoyEdge
from tests.integration.gateway.bridge_service import (
    SERVICE,
    TickService,
    start_server,
    write_descriptor_set,
)
from tests.integration.gateway.edge_harness import (
    ALLOWED_ORIGIN,
    DESCRIPTORS,
    GOOD_CREDENTIAL,
    INJECTED,
    INTERNAL_TOKEN,
    FakeUpstreams,
    edge_settings,
)

GOOD = {"authorization": GOOD_CREDENTIAL}
SSE = {**GOOD, "accept": "text/event-stream"}


@pytest.fixture(scope="module")
async def ticker() -> AsyncIterator[tuple[TickService, str]]:
    service = TickService()
    server, addr = await start_server(service)
    yield service, addr
    await server.stop(grace=None)


@pytest.fixture(scope="module")
async def bridge_edge(
    upstreams: FakeUpstreams,
    ticker: tuple[TickService, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[EnvoyEdge]:
    run_dir = tmp_path_factory.mktemp("bridge-edge")
    descriptors = write_descriptor_set(DESCRIPTORS, run_dir / "descriptors.binpb")
    addrs = {**upstreams.addrs, "registry": ticker[1]}
    services = {**PUBLIC_SERVICES, SERVICE: "registry"}
    settings = edge_settings(addrs, run_dir, descriptor_set=descriptors, public_services=services)
    async with EnvoyEdge(settings) as running:
        yield running


@pytest.fixture
async def client(bridge_edge: EnvoyEdge) -> AsyncIterator[aiohttp.ClientSession]:
    base = f"http://127.0.0.1:{bridge_edge.listen_port}"
    async with aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def _events(response: aiohttp.ClientResponse) -> list[dict[str, str]]:
    """Every SSE event of a finished stream, as {field: value}."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return events


async def test_sse_delivers_each_message_as_an_event_with_its_id_and_name(client):
    async with client.get("/v1/test/ticks?count=3&label=a&loud=true", headers=SSE) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = await _events(response)

    assert [e["id"] for e in events] == ["1", "2", "3"]
    assert {e["event"] for e in events} == {"tick"}
    assert json.loads(events[2]["data"]) == {
        "event_id": "3", "name": "tick", "n": 3, "label": "a", "loud": True,
    }  # fmt: skip


async def test_sse_resumes_after_the_last_event_id_the_browser_saw(client):
    headers = {**SSE, "last-event-id": "3"}
    async with client.get("/v1/test/ticks?count=5", headers=headers) as response:
        events = await _events(response)

    assert [e["id"] for e in events] == ["4", "5"]


async def test_the_bridge_passes_on_the_identity_the_edge_injected(client, ticker):
    service, _ = ticker
    service.metadata.clear()
    async with client.get("/v1/test/ticks?count=1", headers=SSE) as response:
        await _events(response)

    (seen,) = service.metadata
    assert {k: seen.get(k) for k in INJECTED} == INJECTED
    assert seen["x-shipyard-internal-token"] == INTERNAL_TOKEN


async def test_without_a_credential_the_edge_refuses_before_the_bridge(client, ticker):
    service, _ = ticker
    service.metadata.clear()
    async with client.get("/v1/test/ticks", headers={"accept": "text/event-stream"}) as response:
        assert response.status == 401
    assert service.metadata == []


async def test_a_refusal_before_the_stream_is_an_http_status(client):
    async with client.get("/v1/test/ticks?label=deny", headers=SSE) as response:
        assert response.status == 403
        assert await response.json() == {"code": 7, "message": "not your ticks"}


async def test_an_error_after_the_stream_started_is_a_final_error_event(client):
    async with client.get("/v1/test/ticks?label=fail-late", headers=SSE) as response:
        assert response.status == 200
        events = await _events(response)

    assert [e.get("event") for e in events] == ["tick", "error"]
    assert json.loads(events[1]["data"]) == {"code": 13, "message": "ticker broke"}


async def test_a_bad_query_parameter_is_a_400_naming_the_field(client):
    async with client.get("/v1/test/ticks?count=many", headers=SSE) as response:
        assert response.status == 400
        assert "count" in (await response.json())["message"]


async def test_without_asking_for_sse_the_transcoder_still_answers_json(client):
    async with client.get("/v1/test/ticks?count=2", headers=GOOD) as response:
        assert response.status == 200
        body = await response.text()

    # The transcoder's newline-delimited JSON messages, as before the bridge.
    assert [json.loads(line)["n"] for line in body.splitlines()] == [1, 2]


async def test_a_websocket_relays_both_ways_and_ends_with_a_normal_close(client):
    async with client.ws_connect("/v1/test/rooms/r1/chat", headers=GOOD) as ws:
        assert json.loads((await ws.receive()).data) == {"room": "r1", "text": "joined"}
        await ws.send_str(json.dumps({"text": "hello"}))
        assert json.loads((await ws.receive()).data) == {"room": "r1", "text": "HELLO"}
        await ws.send_str(json.dumps({"text": "bye"}))
        closing = await ws.receive()

    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1000


async def test_a_websocket_refused_at_once_is_an_http_status(client):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/v1/test/rooms/nope/chat", headers=GOOD)

    assert refused.value.status == 404


async def test_a_page_of_another_site_cannot_open_a_websocket(client, bridge_edge):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(
            "/v1/test/rooms/r1/chat", headers={**GOOD, "origin": "https://evil.example"}
        )
    assert refused.value.status == 403

    for origin in (ALLOWED_ORIGIN, f"http://127.0.0.1:{bridge_edge.listen_port}"):
        headers = {**GOOD, "origin": origin}
        async with client.ws_connect("/v1/test/rooms/r1/chat", headers=headers) as ws:
            assert json.loads((await ws.receive()).data)["text"] == "joined"


async def test_a_websocket_without_a_credential_is_refused(client):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/v1/test/rooms/r1/chat")

    assert refused.value.status == 401


async def test_a_stream_error_closes_the_websocket_with_4000_plus_its_code(client):
    async with client.ws_connect("/v1/test/rooms/r2/chat", headers=GOOD) as ws:
        await ws.receive()
        await ws.send_str(json.dumps({"text": "boom"}))
        closing = await ws.receive()

    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 4009  # FAILED_PRECONDITION
    assert closing.extra == "boom"


async def test_a_frame_that_is_not_the_message_closes_with_1007(client):
    async with client.ws_connect("/v1/test/rooms/r3/chat", headers=GOOD) as ws:
        await ws.receive()
        await ws.send_str(json.dumps({"no_such_field": 1}))
        closing = await ws.receive()

    assert ws.close_code == 1007
    assert "no_such_field" in closing.extra


async def test_the_bridge_refuses_requests_that_did_not_come_through_the_edge(bridge_edge):
    assert bridge_edge.bridge is not None
    url = f"http://127.0.0.1:{bridge_edge.bridge.port}/v1/test/ticks"
    headers = {**SSE, "x-shipyard-user-id": "u"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        assert response.status == 401
