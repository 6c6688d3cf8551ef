"""`shipyard login` / `logout`: bearer tokens saved in the data directory, refreshed when due."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

LOGIN_FILE = "login.json"
# Refresh this long before the access token expires, so a request never races its expiry.
_EARLY = timedelta(seconds=30)


class LoginError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class SavedLogin:
    endpoint: str
    email: str
    access_token: str
    access_expires_at: str  # ISO-8601
    refresh_token: str

    @staticmethod
    def load(data_dir: Path) -> SavedLogin | None:
        path = data_dir / LOGIN_FILE
        if not path.exists():
            return None
        return SavedLogin(**json.loads(path.read_text()))

    def save(self, data_dir: Path) -> None:
        """Owner-only: the refresh token is a credential."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOGIN_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(self)))

    def due(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.access_expires_at) - _EARLY <= now

    def update(self, tokens: dict[str, Any]) -> None:
        self.access_token = tokens["access_token"]
        self.access_expires_at = _parse_time(tokens["access_token_expire_time"]).isoformat()
        self.refresh_token = tokens["refresh_token"]


async def login(
    http: httpx.AsyncClient, endpoint: str, email: str, password: str
) -> tuple[SavedLogin, bool]:
    """The new login, and whether the user must change their password."""
    tokens = await _post(http, endpoint, "/v1/auth:login", {"email": email, "password": password})
    saved = SavedLogin(endpoint, email, "", "", "")
    saved.update(tokens)
    return saved, bool(tokens.get("need_password_change"))


async def refresh(http: httpx.AsyncClient, saved: SavedLogin) -> None:
    tokens = await _post(
        http, saved.endpoint, "/v1/auth:refresh", {"refresh_token": saved.refresh_token}
    )
    saved.update(tokens)


async def logout(http: httpx.AsyncClient, saved: SavedLogin) -> None:
    await _post(http, saved.endpoint, "/v1/auth:logout", {"refresh_token": saved.refresh_token})


class BearerAuth:
    """The Authorization header for a saved login, refreshing (and re-saving) when due."""

    def __init__(self, saved: SavedLogin, data_dir: Path) -> None:
        self.saved = saved
        self._data_dir = data_dir

    async def header(self, http: httpx.AsyncClient, *, force: bool = False) -> str:
        if force or self.saved.due(datetime.now(UTC)):
            await refresh(http, self.saved)
            self.saved.save(self._data_dir)
        return f"Bearer {self.saved.access_token}"


async def _post(
    http: httpx.AsyncClient, endpoint: str, path: str, body: dict[str, str]
) -> dict[str, Any]:
    reply = await http.post(endpoint.rstrip("/") + path, json=body)
    try:
        data = reply.json()
    except ValueError:
        data = {"message": reply.text}
    if reply.status_code >= 400:
        raise LoginError(reply.status_code, data)
    return dict(data.get("tokens", data))


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
