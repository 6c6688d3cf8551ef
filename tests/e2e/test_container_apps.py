"""A session app on the container backend: the same runner tunnel reaches the echo app inside
the container (docs/apps.md), HTTP and WebSocket, through the edge."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from cli.client import ShipyardClient
from tests.websocket_client import echo_once

pytestmark = pytest.mark.e2e

MEM = str(256 << 20)


async def test_the_echo_app_of_a_container_kernel_answers_through_the_edge(
    container_client: ShipyardClient,
) -> None:
    session = await container_client.create_session(wait=True, resources={"cpu": "1", "mem": MEM})
    sid = session["session_id"]
    try:
        opened = await container_client.request(
            "POST", f"/v1/sessions/{sid}/apps/echo:start", body={}
        )
        url = urlsplit(opened["url"])
        cookie = f"shipyard_app={opened['token']}"
        async with httpx.AsyncClient() as http:
            page = await http.get(
                f"http://127.0.0.1:{url.port}/", headers={"host": url.netloc, "cookie": cookie}
            )
        assert page.status_code == 200
        assert "shipyard echo app" in page.text
        status, echoed = await echo_once(
            "127.0.0.1",
            url.port or 0,
            "/ws",
            "from a container",
            {"Host": url.netloc, "Cookie": cookie},
        )
        assert (status, echoed) == (101, "from a container")
    finally:
        await container_client.destroy_session(sid, forced=True)
