"""Verify a keypair-signed request (the Backend.AI HMAC scheme; docs/edge-auth.md)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

from libs.core.identity import Caller
from libs.core.signing import (
    CLOCK_SKEW,
    DATE_HEADERS,
    VERSION_HEADERS,
    hash_name_of,
    parse_authorization,
    signing_key,
    string_to_sign,
    within_window,
)
from services.auth.domain.errors import (
    DateOutOfWindow,
    InactiveKeypair,
    InactiveUser,
    InvalidSignature,
    MalformedAuthorization,
    MalformedDate,
    MissingApiVersion,
    MissingCredentials,
    MissingDate,
    UnknownAccessKey,
    UnsupportedSignMethod,
)
from services.auth.domain.model import UserStatus
from services.auth.service.ports import Clock, KeypairStore, UsageRecorder

log = logging.getLogger(__name__)

# aiohttp (the upstream server) reports this when a request has no Content-Type, and clients
# sign WebSocket/SSE requests with it.
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Derived signing keys remembered (two HMACs and a date format per request otherwise); keyed by
# the secret itself, so a changed secret never meets an old key.
_KEY_CACHE_BOUND = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedRequest:
    """A request whose signature checked out: who sent it, and what the signature was."""

    caller: Caller
    signature: str
    # When the signature stops being accepted (its Date + the window): a replay cache entry
    # for it must live until then.
    valid_until: datetime
    rate_limit: int  # the keypair's requests per rate-limit window


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFacts:
    """The request as the client sent it. `path` is the raw target, query string included."""

    method: str
    path: str
    host: str
    headers: Mapping[str, str]


class RequestVerifier:
    def __init__(
        self,
        *,
        keypairs: KeypairStore,
        usage: UsageRecorder,
        clock: Clock,
        window: timedelta = CLOCK_SKEW,
    ) -> None:
        self._keypairs = keypairs
        self._usage = usage
        self._clock = clock
        self._window = window
        self._keys: dict[tuple[str, date, str, str], bytes] = {}

    async def verify(self, facts: RequestFacts) -> Caller:
        """The caller the request's signature proves, or an Unauthenticated error saying why."""
        return (await self.verify_request(facts)).caller

    async def verify_request(self, facts: RequestFacts) -> VerifiedRequest:
        """Like `verify`, with what replay protection and rate limiting need."""
        headers = {k.lower(): v for k, v in facts.headers.items()}
        claim = _read_claim(headers)
        # Checked before the lookup: a stale request costs no keypair lookup.
        if not within_window(claim.date, self._clock(), self._window):
            raise DateOutOfWindow("the Date header is too far from the server's time")
        owner = await self._keypairs.find(claim.access_key)
        if owner is None:
            raise UnknownAccessKey("unknown access key")
        host = facts.host or headers.get("host") or headers.get(":authority", "")
        payload = string_to_sign(
            method=facts.method,
            rel_url=facts.path,
            date_text=claim.date_text,
            host=host,
            content_type=mime_type(headers.get("content-type")),
            api_version=claim.api_version,
            hash_name=claim.hash_name,
            header_prefix=claim.header_prefix,
        )
        key = self._signing_key(owner.secret_key, claim.date, host, claim.hash_name)
        expected = hmac.new(key, payload, claim.hash_name).hexdigest()
        if not hmac.compare_digest(expected.encode(), claim.signature.encode()):
            raise InvalidSignature("signature mismatch")
        # State is checked only after the signature, so it is never revealed to a guesser.
        if not owner.keypair_active:
            raise InactiveKeypair("the keypair is inactive")
        if owner.user_status is not UserStatus.ACTIVE:
            raise InactiveUser("the keypair's user is inactive")
        self._usage.touch(owner.access_key, self._clock())
        return VerifiedRequest(
            caller=owner.caller(),
            signature=claim.signature,
            valid_until=claim.date + self._window,
            rate_limit=owner.rate_limit,
        )

    def _signing_key(self, secret: str, when: datetime, host: str, hash_name: str) -> bytes:
        """`signing_key`, derived once per secret, day and host."""
        scope = (secret, when.date(), host, hash_name)
        key = self._keys.get(scope)
        if key is None:
            if len(self._keys) >= _KEY_CACHE_BOUND:
                self._keys.clear()
            key = self._keys[scope] = signing_key(secret, when, host, hash_name)
        return key


@dataclass(frozen=True, slots=True, kw_only=True)
class _Claim:
    """What the client's headers assert, before any keypair is looked up."""

    access_key: str
    signature: str
    hash_name: str
    date_text: str
    date: datetime
    api_version: str
    header_prefix: str


def _read_claim(headers: Mapping[str, str]) -> _Claim:
    authorization = headers.get("authorization", "").strip()
    if not authorization:
        raise MissingCredentials("the request carries no credentials")
    parsed = parse_authorization(authorization)
    if parsed is None:
        raise MalformedAuthorization("the Authorization header is malformed")
    hash_name = hash_name_of(parsed.sign_method)
    if hash_name is None:
        raise UnsupportedSignMethod(f"unsupported signMethod {parsed.sign_method!r}")
    date_text = next((headers[h] for h in DATE_HEADERS if headers.get(h)), "")
    if not date_text:
        raise MissingDate("the request has no Date header")
    date = parse_date(date_text)
    if date is None:
        raise MalformedDate("the Date header is not an ISO-8601 or RFC 1123 date")
    version = next((headers[h] for h in VERSION_HEADERS if headers.get(h)), "")
    if not version:
        raise MissingApiVersion("the request has no X-BackendAI-Version header")
    return _Claim(
        access_key=parsed.access_key,
        signature=parsed.signature,
        hash_name=hash_name,
        date_text=date_text,
        date=date,
        api_version=version,
        # The header-name prefix inside the signed text follows the header the client sent.
        header_prefix="backendai" if "x-backendai-version" in headers else "sorna",
    )


def parse_date(text: str) -> datetime | None:
    """ISO-8601 (what clients send) or RFC 1123; a date without a zone is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            value = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def mime_type(content_type: str | None) -> str:
    """The lower-cased mime type without parameters, as aiohttp's `request.content_type`."""
    value = (content_type or "").partition(";")[0].strip().lower()
    return value or DEFAULT_CONTENT_TYPE
