"""Session apps in a real browser through the edge (docs/apps.md): the owner opens the
built-in echo app of a real kernel in headless Chromium, its page loads and its WebSocket
echoes; another user, a stranger and an expired token are refused; the traffic counts as the
session's activity."""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from cli.client import ApiError, ShipyardClient
from libs.events import session_activity
from tests.browser import chromium, chromium_available
from tests.e2e.cli_as_user import cli_ok
from tests.e2e.tenants import ordinary_user

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not chromium_available(), reason="no chromium (scripts/system-packages)"),
]

SMALL = {"cpu": "1", "mem": "268435456"}


async def _get(url: str, cookie: str = "") -> int:
    """GET an app URL by loopback (the resolver here knows no *.localhost names; browsers do)."""
    parts = urlsplit(url)
    headers = {"host": parts.netloc, **({"cookie": cookie} if cookie else {})}
    target = f"{parts.scheme}://127.0.0.1:{parts.port}{parts.path or '/'}"
    target += f"?{parts.query}" if parts.query else ""
    async with httpx.AsyncClient() as http:
        return (await http.get(target, headers=headers)).status_code


async def test_owner_opens_an_app_in_chromium_and_nobody_else_can(platform):
    owner_keys, other_keys = await ordinary_user(platform), await ordinary_user(platform)
    async with (
        ShipyardClient(platform.endpoint, owner_keys.access_key, owner_keys.secret_key) as owner,
        ShipyardClient(platform.endpoint, other_keys.access_key, other_keys.secret_key) as other,
    ):
        session = await owner.create_session(wait=True, resources=SMALL)
        sid = session["session_id"]
        try:
            listed = await owner.request("GET", f"/v1/sessions/{sid}/apps")
            assert {"name": "echo", "protocol": "http", "port": 8080} in listed["apps"]

            opened = await owner.request("POST", f"/v1/sessions/{sid}/apps/echo:start", body={})
            url = urlsplit(opened["url"])
            assert url.hostname == f"echo-{sid}.localhost"
            assert opened["token"] and opened["token"] in opened["url"]

            # Another ordinary user cannot open it (nor learn that the session exists).
            with pytest.raises(ApiError) as refused:
                await other.request("POST", f"/v1/sessions/{sid}/apps/echo:start", body={})
            assert refused.value.status == 404

            async with chromium() as new_page:
                page = await new_page()
                await page.goto(opened["url"])
                echoed = await page.wait_for("document.getElementById('echo')?.textContent")
                assert echoed == "hello from the browser\n"
                assert await page.evaluate("document.title") == "shipyard echo"
                assert await page.evaluate("location.search") == ""  # the token left the URL
                assert await page.evaluate("document.cookie") == ""  # HttpOnly

                # The cookie keeps the app open: a reload loads it again, without the token.
                await page.goto(f"{url.scheme}://{url.netloc}/")
                again = await page.wait_for("document.getElementById('echo')?.textContent")
                assert again == "hello from the browser\n"

            async with chromium() as stranger_browser:
                page = await stranger_browser()
                await page.goto(f"{url.scheme}://{url.netloc}/")
                text = await page.wait_for("document.body && document.body.innerText")
                assert "shipyard echo app" not in text

            app_root = f"{url.scheme}://{url.netloc}/"
            assert await _get(app_root) == 401
            assert await _get(app_root, f"shipyard_app={opened['token']}") == 200
            # A token of another session's app does not open this one.
            elsewhere = await owner.create_session(wait=True, resources=SMALL)
            try:
                theirs = await owner.request(
                    "POST", f"/v1/sessions/{elsewhere['session_id']}/apps/echo:start", body={}
                )
                assert await _get(app_root, f"shipyard_app={theirs['token']}") == 403
            finally:
                await owner.destroy_session(elsewhere["session_id"], forced=True)

            redis = Redis.from_url(platform.infra.redis_url)
            try:
                assert await session_activity.last_seen(redis, sid) is not None
            finally:
                await redis.aclose()

            # When the session ends, its apps stop being routed, valid cookie or not.
            await owner.destroy_session(sid, forced=True)
            cookie = f"shipyard_app={opened['token']}"
            for _ in range(150):
                if await _get(app_root, cookie) == 404:
                    break
                await asyncio.sleep(0.2)
            assert await _get(app_root, cookie) == 404
        finally:
            with contextlib.suppress(ApiError):
                await owner.destroy_session(sid, forced=True)


async def test_an_expired_app_token_is_refused(platform):
    keys = await ordinary_user(platform)
    async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as owner:
        session = await owner.create_session(wait=True, resources=SMALL)
        sid = session["session_id"]
        try:
            opened = await owner.request(
                "POST", f"/v1/sessions/{sid}/apps/echo:start", body={"token_ttl": "1s"}
            )
            await asyncio.sleep(3)  # past its expiry and the edge's 1 s of clock skew
            async with chromium() as new_page:
                page = await new_page()
                await page.goto(opened["url"])
                text = await page.wait_for("document.body && document.body.innerText")
                assert "shipyard echo app" not in text
            assert await _get(opened["url"]) == 401
        finally:
            await owner.destroy_session(sid, forced=True)


async def test_a_preopen_port_serves_the_users_own_program(client):
    session = await client.create_session(wait=True, resources=SMALL, preopen_ports=[8000])
    sid = session["session_id"]
    try:
        listed = await client.request("GET", f"/v1/sessions/{sid}/apps")
        assert {"name": "port-8000", "protocol": "preopen", "port": 8000} in listed["apps"]
        serve = (
            "import http.server, threading\n"
            "open('hello.txt', 'w').write('from my own server')\n"
            "srv = http.server.ThreadingHTTPServer(('127.0.0.1', 8000),"
            " http.server.SimpleHTTPRequestHandler)\n"
            "threading.Thread(target=srv.serve_forever, daemon=True).start()\n"
        )
        ran = await client.execute(sid, serve)
        assert ran["status"] == "EXECUTION_STATUS_FINISHED", ran
        opened = await client.request("POST", f"/v1/sessions/{sid}/apps/port-8000:start", body={})
        assert urlsplit(opened["url"]).hostname == f"port-8000-{sid}.localhost"
        assert await _get(opened["url"]) == 302
        parts = urlsplit(opened["url"])
        cookie = f"shipyard_app={opened['token']}"
        async with httpx.AsyncClient() as http:
            got = await http.get(
                f"http://127.0.0.1:{parts.port}/hello.txt",
                headers={"host": parts.netloc, "cookie": cookie},
            )
        assert (got.status_code, got.text) == (200, "from my own server")
        with pytest.raises(ApiError) as clash:
            await client.create_session(resources=SMALL, preopen_ports=[2000])
        assert clash.value.status == 400
        assert "preopen_ports" in json.dumps(clash.value.body)
    finally:
        await client.destroy_session(sid, forced=True)


async def test_app_requests_refuse_bad_input_and_strangers(platform, client):
    session = await client.create_session(wait=True, resources=SMALL)
    sid = session["session_id"]
    try:
        with pytest.raises(ApiError) as bad:
            await client.request("POST", f"/v1/sessions/{sid}/apps/Bad_Name:start", body={})
        assert bad.value.status == 400
        assert "app" in json.dumps(bad.value.body)
        with pytest.raises(ApiError) as unknown:
            await client.request("POST", f"/v1/sessions/{sid}/apps/nosuchapp:start", body={})
        assert unknown.value.status == 400
        assert "APP_NOT_OFFERED" in json.dumps(unknown.value.body)
        async with httpx.AsyncClient() as http:
            stranger = await http.post(f"{platform.endpoint}/v1/sessions/{sid}/apps/echo:start")
            assert stranger.status_code == 401

        # The CLI prints the URL (and lists the apps).
        url = (await cli_ok(platform, platform.keypair, "session", "app", sid, "echo")).strip()
        assert url.startswith(f"http://echo-{sid}.localhost:")
        assert await _get(url) == 302
        listed = await cli_ok(platform, platform.keypair, "session", "apps", sid)
        assert "echo\thttp\t8080" in listed
    finally:
        await client.destroy_session(sid, forced=True)
