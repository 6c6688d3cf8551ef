"""A small signed REST client for the edge (keypair HMAC signing, as Backend.AI clients do)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from cli.login import BearerAuth
from libs.core.signing import DEFAULT_API_VERSION, authorization_header, sign


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class ShipyardClient:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 120.0,
        verify: str | bool = True,  # a CA file to trust (the edge's self-signed certificate)
        bearer: BearerAuth | None = None,  # `shipyard login`: bearer tokens instead of signing
    ) -> None:
        self._bearer = bearer
        self._endpoint = endpoint.rstrip("/")
        self._host = urlsplit(self._endpoint).netloc
        self._access_key = access_key
        self._secret_key = secret_key
        self._version = api_version
        self._verify = verify
        self._http = httpx.AsyncClient(timeout=timeout, verify=verify)

    @property
    def keypair(self) -> tuple[str, str]:
        """The access and secret key ("" when signed in with `shipyard login`)."""
        return self._access_key, self._secret_key

    @property
    def host(self) -> str:
        """The edge's host:port."""
        return self._host

    @property
    def tls(self) -> bool:
        return self._endpoint.startswith("https:")

    @property
    def ca_file(self) -> str | None:
        """The CA file trusted for the edge's certificate, if not the system's."""
        return self._verify if isinstance(self._verify, str) else None

    async def __aenter__(self) -> ShipyardClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    def signed_headers(self, method: str, rel_url: str, content_type: str) -> dict[str, str]:
        now = datetime.now(UTC)
        signature = sign(
            secret_key=self._secret_key,
            method=method,
            rel_url=rel_url,
            date=now,
            host=self._host,
            content_type=content_type,
            api_version=self._version,
        )
        return {
            "Date": now.isoformat(),
            "X-BackendAI-Version": self._version,
            "Authorization": authorization_header(self._access_key, signature),
        }

    async def auth_headers(self, method: str, rel_url: str) -> dict[str, str]:
        """Headers that authenticate a body-less request made outside this client (a
        WebSocket): the login's bearer token, or the keypair's signature."""
        if self._bearer is not None:
            return {"Authorization": await self._bearer.header(self._http)}
        return self.signed_headers(method, rel_url, "application/octet-stream")

    def url(self, rel_url: str) -> str:
        return self._endpoint + rel_url

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        rel_url = path + (f"?{urlencode(params, doseq=True)}" if params else "")
        # Without a body no Content-Type is sent; the server then signs application/octet-stream.
        content_type = "application/json" if body is not None else "application/octet-stream"
        content = None if body is None else json.dumps(body).encode()
        reply = await self._send(method, rel_url, content_type, content)
        if reply.status_code == 401 and self._bearer is not None:
            # The access token expired or was refused: one refresh, one retry.
            reply = await self._send(method, rel_url, content_type, content, refresh=True)
        try:
            data = reply.json()
        except ValueError:
            data = {"message": reply.text}
        if reply.status_code >= 400:
            raise ApiError(reply.status_code, data)
        return dict(data)

    async def _send(
        self,
        method: str,
        rel_url: str,
        content_type: str,
        content: bytes | None,
        *,
        refresh: bool = False,
    ) -> httpx.Response:
        if self._bearer is not None:
            headers = {"Authorization": await self._bearer.header(self._http, force=refresh)}
        else:
            headers = self.signed_headers(method, rel_url, content_type)
        if content is not None:
            headers["Content-Type"] = content_type
        return await self._http.request(
            method, self._endpoint + rel_url, headers=headers, content=content
        )

    async def create_session(self, **fields: Any) -> dict[str, Any]:
        return _object(await self.request("POST", "/v1/sessions", body=fields), "session")

    async def get_session(self, session_id: str) -> dict[str, Any]:
        return _object(await self.request("GET", f"/v1/sessions/{session_id}"), "session")

    async def list_sessions(self, **params: Any) -> dict[str, Any]:
        return await self.request("GET", "/v1/sessions", params=params)

    async def destroy_session(self, session_id: str, *, forced: bool = False) -> dict[str, Any]:
        params = {"forced": "true"} if forced else None
        reply = await self.request("DELETE", f"/v1/sessions/{session_id}", params=params)
        return _object(reply, "session")

    async def restart_session(
        self, session_id: str, *, wait: bool = False, within: float = 180.0
    ) -> dict[str, Any]:
        """Restart a RUNNING session; with `wait`, return once it left RESTARTING."""
        reply = await self.request("POST", f"/v1/sessions/{session_id}/restart", body={})
        session = _object(reply, "session")
        deadline = asyncio.get_running_loop().time() + within
        while wait and session.get("status") == "SESSION_STATUS_RESTARTING":
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"session {session_id} still restarting after {within:g}s")
            await asyncio.sleep(0.25)
            session = await self.get_session(session_id)
        return session

    async def execute(
        self, session_id: str, code: str, *, mode: str = "query", timeout_s: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"code": code, "mode": f"EXECUTION_MODE_{mode.upper()}"}
        if timeout_s is not None:
            body["timeout"] = f"{timeout_s}s"
        reply = await self.request("POST", f"/v1/sessions/{session_id}:execute", body=body)
        return _object(reply, "result")

    async def get_session_logs(self, session_id: str, *, tail_lines: int = 0) -> str:
        params = {"tail_lines": tail_lines} if tail_lines else None
        reply = await self.request("GET", f"/v1/sessions/{session_id}/logs", params=params)
        return str(reply.get("logs", ""))

    async def whoami(self) -> dict[str, Any]:
        return _object(await self.request("GET", "/v1/identity"), "identity")

    async def create_vfolder(self, name: str, *, read_only: bool = False) -> dict[str, Any]:
        body = {"name": name} | ({"permission": "MOUNT_PERMISSION_READ_ONLY"} if read_only else {})
        return _object(await self.request("POST", "/v1/vfolders", body=body), "vfolder")

    async def list_vfolders(self) -> list[Any]:
        return list((await self.request("GET", "/v1/vfolders"))["vfolders"])

    async def delete_vfolder(self, vfolder_id: str, *, purge: bool = False) -> None:
        params = {"purge": "true"} if purge else None
        await self.request("DELETE", f"/v1/vfolders/{vfolder_id}", params=params)

    async def list_agents(self) -> list[Any]:
        return list((await self.request("GET", "/v1/agents"))["agents"])


def _object(reply: dict[str, Any], key: str) -> dict[str, Any]:
    value = reply[key]
    if not isinstance(value, dict):
        raise ApiError(200, {"message": f"unexpected reply: {key} is not an object"})
    return value
