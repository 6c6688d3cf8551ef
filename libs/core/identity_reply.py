"""A keypair-signed `GET /v1/identity` answered by the edge (docs/edge-auth.md).

GetCurrentIdentity only echoes the identity the Check resolved, so for that one route auth's
Check also returns the RPC's REST body in HEADER_IDENTITY_REPLY and the edge answers with it
instead of calling auth a second time. The body goes percent-encoded (`encode_reply`): every
byte outside printable ASCII, and `%` itself, as %XX, so any identity value is header-safe and
the edge's decoder (gateway/identity_reply.py) gives back the exact bytes.
"""

from __future__ import annotations

# Internal: only auth's Check sets it; the edge strips a client's copy before ext_authz and
# removes it before any upstream (gateway/http_filters.py, gateway/edge_routes.py).
HEADER_IDENTITY_REPLY = "x-shipyard-identity-reply"
# GetCurrentIdentity's REST rule (proto/shipyard/auth/v1/identity_service.proto); a unit test
# holds the two together.
IDENTITY_METHOD = "GET"
IDENTITY_PATH = "/v1/identity"

# A larger body (a member of hundreds of projects) is left to the RPC: the identity headers
# already carry the project ids once, and Envoy's request headers are limited to 60 KiB.
MAX_REPLY_CHARS = 8 * 1024

_KEPT = frozenset(range(0x20, 0x7F)) - {ord("%")}


def is_identity_request(method: str, target: str) -> bool:
    """The client's request is GetCurrentIdentity over REST (its query is ignored, as the
    transcoder ignores unknown query parameters)."""
    return method == IDENTITY_METHOD and target.partition("?")[0] == IDENTITY_PATH


def encode_reply(body: str) -> str:
    return "".join(chr(b) if b in _KEPT else f"%{b:02X}" for b in body.encode())
