"""Keypair request signing, as Backend.AI clients do it (HMAC over a date-scoped key).

Both sides use this module: clients to sign, auth to verify. The string to sign covers the
method, the path with query, the Date header text, the host, the content type and the API
version; the body is never hashed (its hash is that of the empty string).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_API_VERSION = "v8.20240315"
CLOCK_SKEW = timedelta(minutes=15)
# The headers a signed request's check reads besides Host (the edge forwards exactly these to
# auth's HTTP Check): the credential, the date, the API version, the content type.
DATE_HEADERS = ("date", "x-backendai-date", "x-sorna-date")
VERSION_HEADERS = ("x-backendai-version", "x-sorna-version")
SIGNED_REQUEST_HEADERS = ("authorization", *DATE_HEADERS, *VERSION_HEADERS, "content-type")
# A keypair's rate limit, reported on every signed response (Backend.AI's names).
RATE_LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-window")


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    sign_method: str
    access_key: str
    signature: str


def string_to_sign(
    *,
    method: str,
    rel_url: str,
    date_text: str,
    host: str,
    content_type: str,
    api_version: str,
    hash_name: str = "sha256",
    header_prefix: str = "backendai",
) -> bytes:
    body_hash = hashlib.new(hash_name, b"").hexdigest()
    text = (
        f"{method.upper()}\n{rel_url}\n{date_text}\nhost:{host}\n"
        f"content-type:{content_type.lower()}\nx-{header_prefix}-version:{api_version}\n{body_hash}"
    )
    return text.encode()


def signing_key(secret_key: str, date: datetime, host: str, hash_name: str = "sha256") -> bytes:
    """The date- and host-scoped key: HMAC(HMAC(secret, YYYYMMDD), host)."""
    k1 = hmac.new(secret_key.encode(), date.strftime("%Y%m%d").encode(), hash_name).digest()
    return hmac.new(k1, host.encode(), hash_name).digest()


def sign(
    *,
    secret_key: str,
    method: str,
    rel_url: str,
    date: datetime,
    host: str,
    content_type: str,
    api_version: str,
    hash_name: str = "sha256",
    header_prefix: str = "backendai",
) -> str:
    """Hex signature of a request. `date.isoformat()` must equal the Date header sent."""
    payload = string_to_sign(
        method=method,
        rel_url=rel_url,
        date_text=date.isoformat(),
        host=host,
        content_type=content_type,
        api_version=api_version,
        hash_name=hash_name,
        header_prefix=header_prefix,
    )
    key = signing_key(secret_key, date, host, hash_name)
    return hmac.new(key, payload, hash_name).hexdigest()


def authorization_header(access_key: str, signature: str, hash_name: str = "sha256") -> str:
    return f"BackendAI signMethod=HMAC-{hash_name.upper()}, credential={access_key}:{signature}"


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Parse `BackendAI signMethod=HMAC-SHA256, credential=AK:SIG`; None when malformed."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme not in ("BackendAI", "Sorna") or not rest:
        return None
    params: dict[str, str] = {}
    for piece in rest.split(","):
        name, sep, val = piece.strip().partition("=")
        if sep:
            params[name] = val
    access_key, sep, signature = params.get("credential", "").partition(":")
    sign_method = params.get("signMethod", "")
    if not sep or not access_key or not signature or not sign_method:
        return None
    return ParsedAuthorization(sign_method, access_key, signature)


def hash_name_of(sign_method: str) -> str | None:
    """`HMAC-SHA256` → `sha256`, or None for anything not a guaranteed hashlib algorithm."""
    kind, _, algo = sign_method.partition("-")
    algo = algo.lower()
    if kind.upper() != "HMAC" or algo not in hashlib.algorithms_guaranteed:
        return None
    return algo


def within_window(date: datetime, now: datetime, window: timedelta = CLOCK_SKEW) -> bool:
    """True when `date` is strictly less than `window` away from `now`."""
    return abs(now - date) < window
