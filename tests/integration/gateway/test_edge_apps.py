"""Session apps on the real Envoy (EdgeAppService): an app behind its own host name opens with
its token (which becomes a cookie), serves HTTP and WebSocket, and nothing else opens it."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.duration_pb2 import Duration
from shipyard.gateway.v1 import edge_app_service_pb2 as pb
from shipyard.gateway.v1 import edge_app_service_pb2_grpc as pb_grpc

from cli.infra import free_port
from gateway.launcher import EnvoyEdge
from libs.grpcutil.client import internal_channel
from services.agent.kernel_runner import ECHO_APP_SCRIPT
from services.auth.adapters.access_tokens import write_jwks
from tests.integration.gateway.edge_harness import INTERNAL_TOKEN, FakeUpstreams, edge_settings
from tests.websocket_client import echo_once


@pytest.fixture
async def echo_app() -> AsyncIterator[str]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, str(ECHO_APP_SCRIPT), str(port))
    try:
        for _ in range(100):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        await proc.wait()


@pytest.fixture
async def app_edge(upstreams: FakeUpstreams, tmp_path: Path) -> AsyncIterator[EnvoyEdge]:
    jwks = write_jwks(ec.generate_private_key(ec.SECP256R1()), tmp_path / "jwks.json")
    port = free_port()
    settings = edge_settings(
        upstreams.addrs, tmp_path / "run", jwks_file=jwks, route_api_addr="127.0.0.1:0", port=port
    )
    async with EnvoyEdge(settings) as edge:
        yield edge


async def _open(
    edge: EnvoyEdge, app: str, backend: str, ttl: float | None = None
) -> pb.OpenAppResponse:
    request = pb.OpenAppRequest(
        session_id=str(uuid.uuid4()), app=app, backend=backend, user_id="u-1"
    )
    if ttl is not None:
        request.token_ttl.CopyFrom(Duration().__class__(seconds=int(ttl)))
    async with internal_channel(f"127.0.0.1:{edge.route_api_port}", INTERNAL_TOKEN) as channel:
        return await pb_grpc.EdgeAppServiceStub(channel).OpenApp(request)


async def _until_routed(http: httpx.AsyncClient, host: str, token: str) -> httpx.Response:
    for _ in range(100):
        r = await http.get("/", params={"token": token}, headers={"host": host})
        http.cookies.clear()  # each request below says which cookie it carries
        if r.status_code != 404:
            return r
        await asyncio.sleep(0.05)
    return r


async def test_app_opens_with_its_token_then_its_cookie(app_edge, echo_app):
    opened = await _open(app_edge, "echo", echo_app)
    host = f"{opened.host}:{app_edge.listen_port}"
    assert opened.url.startswith(f"http://{host}/?token=")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app_edge.listen_port}") as http:
        first = await _until_routed(http, host, opened.token)
        assert first.status_code == 302, first.text
        assert first.headers["location"].endswith("/")
        cookie = first.headers["set-cookie"]
        assert cookie.startswith(f"shipyard_app={opened.token};")
        assert "HttpOnly" in cookie
        assert "SameSite" in cookie
        page = await http.get("/", headers={"host": host, "cookie": f"shipyard_app={opened.token}"})
        assert page.status_code == 200
        assert "shipyard echo app" in page.text

        status, echoed = await echo_once(
            "127.0.0.1",
            app_edge.listen_port,
            "/ws",
            "hi there",
            {"Host": host, "Cookie": f"shipyard_app={opened.token}"},
        )
        assert (status, echoed) == (101, "hi there")


async def test_app_refuses_no_token_another_apps_token_and_an_expired_one(app_edge, echo_app):
    mine = await _open(app_edge, "echo", echo_app)
    other = await _open(app_edge, "other", echo_app)
    short = await _open(app_edge, "short", echo_app, ttl=1)
    host = f"{mine.host}:{app_edge.listen_port}"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app_edge.listen_port}") as http:
        assert (await _until_routed(http, host, mine.token)).status_code == 302
        assert (await http.get("/", headers={"host": host})).status_code == 401
        wrong = await http.get("/", headers={"host": host, "cookie": f"shipyard_app={other.token}"})
        assert wrong.status_code == 403
        bogus = await http.get("/", headers={"host": host, "cookie": "shipyard_app=x.y.z"})
        assert bogus.status_code == 401
        status, _ = await echo_once("127.0.0.1", app_edge.listen_port, "/ws", "x", {"Host": host})
        assert status == 401
        # A valid cookie does not let a forged `?token=` through into a new cookie.
        forged = await http.get(
            "/",
            params={"token": "x; Max-Age=0"},
            headers={"host": host, "cookie": f"shipyard_app={mine.token}"},
        )
        assert forged.status_code == 401

        short_host = f"{short.host}:{app_edge.listen_port}"
        await asyncio.sleep(3)  # past the token's expiry and the edge's 1 s of clock skew
        expired = await http.get(
            "/", headers={"host": short_host, "cookie": f"shipyard_app={short.token}"}
        )
        assert expired.status_code == 401
        # The services' routes stay closed to an app token.
        assert (
            await http.get("/v1/identity", headers={"cookie": f"shipyard_app={mine.token}"})
        ).status_code == 401


async def test_closing_a_sessions_apps_stops_routing_them(app_edge, echo_app):
    opened = await _open(app_edge, "echo", echo_app)
    host = f"{opened.host}:{app_edge.listen_port}"
    session_id = opened.host.split(".")[0].removeprefix("echo-")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app_edge.listen_port}") as http:
        assert (await _until_routed(http, host, opened.token)).status_code == 302
        async with internal_channel(
            f"127.0.0.1:{app_edge.route_api_port}", INTERNAL_TOKEN
        ) as channel:
            stub = pb_grpc.EdgeAppServiceStub(channel)
            closed = await stub.CloseSessionApps(pb.CloseSessionAppsRequest(session_id=session_id))
        assert closed.closed == 1
        cookie = {"host": host, "cookie": f"shipyard_app={opened.token}"}
        for _ in range(100):
            if (await http.get("/", headers=cookie)).status_code != 200:
                break
            await asyncio.sleep(0.05)
        assert (await http.get("/", headers=cookie)).status_code != 200


async def test_an_open_app_is_still_routed_after_the_edge_restarts(
    upstreams: FakeUpstreams, echo_app: str, tmp_path: Path
) -> None:
    jwks = write_jwks(ec.generate_private_key(ec.SECP256R1()), tmp_path / "jwks.json")
    settings = edge_settings(
        upstreams.addrs,
        tmp_path / "run",
        jwks_file=jwks,
        route_api_addr="127.0.0.1:0",
        port=free_port(),
        state_file=tmp_path / "edge-state.json",
    )
    async with EnvoyEdge(settings) as first:
        opened = await _open(first, "echo", echo_app)
        host = f"{opened.host}:{first.listen_port}"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first.listen_port}") as http:
            assert (await _until_routed(http, host, opened.token)).status_code == 302

    async with EnvoyEdge(settings) as restarted:  # nobody opened the app on this one
        cookie = {"host": host, "cookie": f"shipyard_app={opened.token}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{restarted.listen_port}") as http:
            page = await http.get("/", headers=cookie)
            for _ in range(100):  # until Envoy has the restored route
                if page.status_code != 404:
                    break
                await asyncio.sleep(0.05)
                page = await http.get("/", headers=cookie)
            assert page.status_code == 200 and "shipyard echo app" in page.text
            assert (await http.get("/", headers={"host": host})).status_code == 401
