"""Short-lived signed transfer tokens: the storage service's own HMAC over what a token allows.

A token is `v1.<payload>.<mac>`: the payload is the compact JSON of a `TransferGrant` in
unpadded URL-safe base64, the MAC is HMAC-SHA256 with the service's transfer key over
`shipyard-transfer.v1.` + the encoded payload, also unpadded base64. Whoever holds a token may
do exactly what it names (one kind of transfer of one path of one folder) until it expires, as
the user it was issued to: the grant carries that user's identity (role, domain, projects), and
every request made with it checks the folder permission again, so a share revoked after the
token was issued ends its transfers. The checks (format, MAC in constant time, kind, expiry)
live here; the HTTP transfer endpoints call `verify`. See docs/storage.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from enum import StrEnum

from libs.core.errors import Unauthenticated
from libs.core.identity import Caller, Role

VERSION = "v1"
_CONTEXT = b"shipyard-transfer.v1."
MIN_KEY_BYTES = 32


class TransferKind(StrEnum):
    UPLOAD = "upload"
    DOWNLOAD = "download"


class InvalidTransferToken(Unauthenticated):
    reason = "INVALID_TRANSFER_TOKEN"


class TransferTokenExpired(Unauthenticated):
    reason = "TRANSFER_TOKEN_EXPIRED"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferGrant:
    kind: TransferKind
    vfolder_id: str
    path: str
    user_id: str
    expires_at: int  # Unix seconds
    size: int = 0  # uploads: the complete file's size
    # The identity of the user it was issued to, as it was then (the folder checks need it).
    role: str = Role.USER.value
    domain_name: str = ""
    project_ids: tuple[str, ...] = ()

    def caller(self) -> Caller:
        """Who a request carrying this grant acts as."""
        return Caller(
            user_id=self.user_id,
            role=Role(self.role),
            domain_name=self.domain_name,
            project_ids=self.project_ids,
        )


def sign(grant: TransferGrant, key: bytes) -> str:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the transfer key needs at least {MIN_KEY_BYTES} bytes")
    body = json.dumps(asdict(grant), separators=(",", ":"), sort_keys=True).encode()
    payload = _b64(body)
    return f"{VERSION}.{payload}.{_b64(_mac(key, payload))}"


def verify(token: str, key: bytes, *, kind: TransferKind, now: float) -> TransferGrant:
    """The grant `token` carries, after every check; InvalidTransferToken / TransferTokenExpired."""
    invalid = InvalidTransferToken("the transfer token is not valid")
    version, _, rest = token.partition(".")
    payload, _, mac = rest.partition(".")
    if version != VERSION or not payload or not mac or "." in mac:
        raise invalid
    try:
        given = _unb64(mac)
        fields = json.loads(_unb64(payload))
    except (binascii.Error, ValueError, UnicodeError):
        raise invalid from None
    if not hmac.compare_digest(given, _mac(key, payload)):
        raise invalid
    try:
        grant = TransferGrant(
            kind=TransferKind(fields["kind"]),
            vfolder_id=str(fields["vfolder_id"]),
            path=str(fields["path"]),
            user_id=str(fields["user_id"]),
            expires_at=int(fields["expires_at"]),
            size=int(fields["size"]),
            role=Role(fields["role"]).value,
            domain_name=str(fields["domain_name"]),
            project_ids=tuple(str(p) for p in fields["project_ids"]),
        )
    except (KeyError, TypeError, ValueError):
        raise invalid from None
    if grant.kind is not kind:
        raise InvalidTransferToken(f"the transfer token is for a {grant.kind.value}, not a {kind}")
    if now >= grant.expires_at:
        raise TransferTokenExpired("the transfer token has expired")
    return grant


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, _CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
