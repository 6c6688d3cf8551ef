"""The key the edge presents to an agent's listener for one session app (docs/apps.md): derived
from the deployment's internal token, so the edge and every agent agree without another secret,
and different for every app, so one app's key opens no other."""

from __future__ import annotations

import hashlib
import hmac

HEADER_APP_KEY = "x-shipyard-app-key"


def app_backend_key(internal_token: str, app: str, session_id: str) -> str:
    message = f"session app backend\n{session_id}\n{app}".encode()
    return hmac.new(internal_token.encode(), message, hashlib.sha256).hexdigest()
