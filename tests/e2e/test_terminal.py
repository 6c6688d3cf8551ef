"""Terminals in real kernels through the edge: a WebSocket from a browser's point of view (bearer
token or keypair signature), native gRPC, and `shipyard session shell` (issue 11, item 4)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import pty
import secrets
import signal
import struct
import termios
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import httpx
import pytest
from redis.asyncio import Redis
from shipyard.registry.v1 import terminal_service_pb2 as pb
from shipyard.registry.v1 import terminal_service_pb2_grpc as pb_grpc

from cli.client import ShipyardClient
from cli.platform import Platform
from libs.events import session_activity
from services.auth.domain.model import DEFAULT_DOMAIN, DEFAULT_PROJECT
from tests.e2e.cli_as_user import CLI, ROOT, cli_env
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e

PASSWORD = "terminal-pass-123"
SMALL = {"cpu": "1", "mem": "268435456"}


async def _user_with_password(platform: Platform) -> tuple[ShipyardClient, str]:
    """An ordinary user: a client signing with their keypair, and a bearer token from login."""
    assert platform.keypair is not None
    email = f"t-{secrets.token_hex(4)}@example.com"
    root_keys = platform.keypair
    async with ShipyardClient(
        platform.endpoint, root_keys.access_key, root_keys.secret_key
    ) as root:
        projects = await root.request("GET", "/v1/projects", params={"page_size": 1000})
        project = next(p for p in projects["projects"] if p["name"] == DEFAULT_PROJECT)
        user = (
            await root.request(
                "POST",
                "/v1/users",
                body={
                    "user": {"email": email, "domain_name": DEFAULT_DOMAIN, "role": "ROLE_USER"},
                    "password": PASSWORD,
                    "project_ids": [project["project_id"]],
                },
            )
        )["user"]
        issued = await root.request("POST", f"/v1/users/{user['user_id']}/keypairs", body={})
    async with httpx.AsyncClient(base_url=platform.endpoint) as http:
        login = await http.post("/v1/auth:login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    client = ShipyardClient(
        platform.endpoint, issued["keypair"]["access_key"], issued["secret_key"]
    )
    return client, str(login.json()["tokens"]["access_token"])


@pytest.fixture(scope="module")
async def owner(platform: Platform) -> AsyncIterator[tuple[ShipyardClient, str, str]]:
    """(the owner's client, their bearer token, their running session's id)."""
    client, token = await _user_with_password(platform)
    session = await client.create_session(wait=True, resources=SMALL)
    assert session["status"] == "SESSION_STATUS_RUNNING", session
    yield client, token, session["session_id"]
    await client.destroy_session(session["session_id"])
    await client.close()


def _keys(data: bytes) -> str:
    return json.dumps({"data": base64.b64encode(data).decode()})


class Screen:
    """What a WebSocket terminal has shown so far, and its exit code once it ended."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.text = ""
        self.exit_code: int | None = None

    async def until(self, wanted: str, within: float = 30.0) -> str:
        async with asyncio.timeout(within):
            while wanted not in self.text:
                message = await self.ws.receive()
                assert message.type is aiohttp.WSMsgType.TEXT, (message, self.text)
                output: dict[str, Any] = json.loads(message.data)["output"]
                self.text += base64.b64decode(output.get("data", "")).decode(errors="replace")
                if "exit" in output:
                    self.exit_code = int(output["exit"].get("code", 0))
                    break
        return self.text

    async def until_exit(self, within: float = 30.0) -> int:
        await self.until("\0never\0", within)
        assert self.exit_code is not None, self.text
        return self.exit_code


def _ws_url(platform: Platform, sid: str, query: str = "") -> str:
    return platform.endpoint.replace("http", "ws", 1) + f"/v1/sessions/{sid}/terminal{query}"


async def test_a_pty_runs_bash_answers_honours_resize_and_ends_with_its_exit_code(
    platform, owner, redis_url
):
    _, token, sid = owner
    bearer = {"authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            _ws_url(platform, sid, "?size.rows=30&size.cols=100"), headers=bearer
        ) as ws,
    ):
        screen = Screen(ws)
        await ws.send_str(_keys(b"echo $BASH_VERSION; echo answer-$((6*7)); stty size\n"))
        text = await screen.until("30 100")
        assert "answer-42" in text

        await ws.send_str(json.dumps({"size": {"rows": 40, "cols": 120}}))
        await ws.send_str(_keys(b"stty size\n"))
        await screen.until("40 120")

        await ws.send_str(_keys(b"exit 7\n"))
        assert await screen.until_exit() == 7
        closing = await ws.receive()
    assert closing.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 1000
    redis = Redis.from_url(redis_url)
    try:
        assert await session_activity.last_seen(redis, sid) is not None  # typing is use
    finally:
        await redis.aclose()


async def test_a_keypair_signed_websocket_opens_a_terminal_too(platform, owner):
    client, _, sid = owner
    rel_url = f"/v1/sessions/{sid}/terminal"
    headers = await client.auth_headers("GET", rel_url)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(_ws_url(platform, sid), headers=headers) as ws,
    ):
        screen = Screen(ws)
        await ws.send_str(_keys(b"exit 3\n"))
        assert await screen.until_exit() == 3


async def test_another_user_cannot_open_the_owners_terminal(platform, owner):
    _, _, sid = owner
    stranger_keys = await ordinary_user(platform)
    async with ShipyardClient(
        platform.endpoint, stranger_keys.access_key, stranger_keys.secret_key
    ) as stranger:
        headers = await stranger.auth_headers("GET", f"/v1/sessions/{sid}/terminal")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(_ws_url(platform, sid), headers=headers)
        assert refused.value.status == 404  # other users' sessions do not exist for them
        with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
            await http.ws_connect(_ws_url(platform, sid))
        assert anonymous.value.status == 401


async def test_the_terminal_over_native_grpc(platform, owner):
    _, token, sid = owner
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{platform.config.edge_port}")
    stub = pb_grpc.TerminalServiceStub(channel)
    ended = asyncio.Event()

    async def typing() -> AsyncIterator[pb.OpenTerminalRequest]:
        yield pb.OpenTerminalRequest(session_id=sid, data=b"echo grpc-$((2+3)); exit 4\n")
        await ended.wait()  # closing our side first would hang the shell up

    call = stub.OpenTerminal(typing(), metadata=(("authorization", f"Bearer {token}"),))
    seen, code = b"", None
    try:
        async for response in call:
            seen += response.output.data
            if response.output.HasField("exit"):
                code = response.output.exit.code
                ended.set()
    finally:
        await channel.close()
    assert b"grpc-5" in seen
    assert code == 4


async def test_shipyard_session_shell_exits_with_the_shells_code(platform, owner):
    client, _, sid = owner
    leader, follower = pty.openpty()  # the CLI gets a real terminal: raw mode, window size
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 90, 0, 0))
    proc = await asyncio.create_subprocess_exec(
        *CLI, "session", "shell", sid, stdin=follower, stdout=follower, stderr=follower,
        env=cli_env(platform, *client.keypair), cwd=ROOT,
    )  # fmt: skip
    os.close(follower)
    loop = asyncio.get_running_loop()
    output = bytearray()
    changed = asyncio.Event()  # more output arrived

    def read_all() -> None:  # until EIO: the CLI is gone and everything was read
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                return
            if not chunk:
                return
            output.extend(chunk)
            loop.call_soon_threadsafe(changed.set)

    async def shown(wanted: bytes) -> None:
        while wanted not in output:
            await changed.wait()
            changed.clear()

    reading = loop.run_in_executor(None, read_all)
    async with asyncio.timeout(60):
        await changed.wait()  # the remote shell is there
        os.write(leader, b"echo shell-$((3*3)); stty size\n")
        await shown(b"33 90")
        # The local window changes: the CLI hears SIGWINCH and resizes the remote terminal.
        fcntl.ioctl(leader, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 60, 0, 0))
        proc.send_signal(signal.SIGWINCH)
        while b"20 60" not in output:  # typed until the resize (sent apart) got there first
            os.write(leader, b"stty size\n")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(shown(b"20 60"), 0.5)
        os.write(leader, b"exit 5\n")
        code = await proc.wait()
        await reading
    os.close(leader)
    assert code == 5, output.decode(errors="replace")
    assert b"shell-9" in output
    assert b"33 90" in output  # the remote terminal had the local one's size, then its new one


async def test_a_terminal_in_a_container_kernel(container_platform, container_client):
    """The container backend: the image's own bash, on a PTY inside the container."""
    session = await container_client.create_session(wait=True, resources=SMALL)
    sid = session["session_id"]
    try:
        rel_url = f"/v1/sessions/{sid}/terminal?size.rows=25&size.cols=70"
        headers = await container_client.auth_headers("GET", rel_url)
        url = container_platform.endpoint.replace("http", "ws", 1) + rel_url
        async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
            screen = Screen(ws)
            await ws.send_str(_keys(b"echo answer-$((6*7)); stty size\n"))
            text = await screen.until("25 70")
            assert "answer-42" in text
            await ws.send_str(_keys(b"exit 2\n"))
            assert await screen.until_exit() == 2
    finally:
        await container_client.destroy_session(sid)
