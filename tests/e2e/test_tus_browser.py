"""A browser uploads a file with tus-js-client through the edge, as an ordinary user's web page
on another origin would: the first upload is cut off after its first piece, a second one
resumes it from the stored offset, and the folder then holds exactly the bytes the page had."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from cli.client import ShipyardClient
from cli.infra import free_port
from cli.platform import ROOT, Platform
from tests.browser import chromium, chromium_available
from tests.e2e.tenants import ordinary_user

TUS_BUNDLE = ROOT / "build" / "npm" / "node_modules" / "tus-js-client" / "dist" / "tus.min.js"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not chromium_available(), reason="no chromium (scripts/system-packages)"),
    pytest.mark.skipif(not TUS_BUNDLE.exists(), reason="no tus-js-client (scripts/bootstrap)"),
]

MiB = 1024 * 1024
SIZE = 3 * MiB + 5


def _expected() -> bytes:
    """What the page uploads: byte i is (7 i + 3) mod 251, made the same way in JavaScript."""
    return bytes((i * 7 + 3) % 251 for i in range(SIZE))


PAGE = "<!doctype html><title>lab</title><p>uploads</p>"
UPLOAD_JS = """
(async () => {
  const bytes = new Uint8Array(%(size)d);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) %% 251;
  const file = new Blob([bytes]);
  const endpoint = %(endpoint)s;
  const common = {endpoint, chunkSize: 1048576, retryDelays: null};
  // A first attempt that stops after its first piece, as a closed tab would.
  const url = await new Promise((resolve, reject) => {
    const first = new tus.Upload(file, {
      ...common,
      onChunkComplete: (size, sent) => { first.abort(); resolve(first.url); },
      onError: reject,
    });
    first.start();
  });
  await new Promise((resolve, reject) => {
    const again = new tus.Upload(
      file, {...common, uploadUrl: url, onSuccess: resolve, onError: reject});
    again.start();
  });
  window.__uploaded = url;
})().catch((e) => { window.__failed = String(e); });
"""


async def test_a_browser_uploads_with_tus_js_client_and_resumes_after_a_cut(
    platform: Platform,
) -> None:
    alice = await ordinary_user(platform)
    edge = platform.endpoint.rstrip("/")
    async with ShipyardClient(platform.endpoint, alice.access_key, alice.secret_key) as c:
        folder = (await c.create_vfolder(f"tus-{secrets.token_hex(3)}"))["vfolder_id"]
        issued = await c.request(
            "POST",
            f"/v1/vfolders/{folder}/files:upload-session",
            body={"path": "from-browser.bin", "size": str(SIZE)},
        )
    endpoint = f"{edge}/v1/storage/transfers/uploads?token={issued['token']}"

    # The page comes from another origin (a web UI), so the browser applies CORS for real.
    page_app = web.Application()
    page_app.router.add_get("/", lambda _: web.Response(text=PAGE, content_type="text/html"))
    runner = web.AppRunner(page_app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with chromium() as new_page:
            page = await new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.wait_for("document.readyState === 'complete'")
            await page.evaluate(Path(TUS_BUNDLE).read_text())
            await page.evaluate(UPLOAD_JS % {"size": SIZE, "endpoint": json.dumps(endpoint)})
            outcome = await page.wait_for("window.__uploaded || window.__failed", within=60)
            failed = await page.evaluate("window.__failed || ''")
    finally:
        await runner.cleanup()
    assert failed == "", failed
    assert str(outcome).startswith(f"{edge}/v1/storage/transfers/uploads/")

    async with ShipyardClient(platform.endpoint, alice.access_key, alice.secret_key) as c:
        token = (
            await c.request(
                "POST",
                f"/v1/vfolders/{folder}/files:download-token",
                body={"path": "from-browser.bin"},
            )
        )["token"]
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"{edge}/v1/storage/transfers/download", params={"token": token})
    assert reply.status_code == 200
    assert reply.content == _expected()
