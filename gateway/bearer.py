"""Bearer tokens at the edge: Envoy verifies auth's JWTs itself (jwt_authn), per-user local rate
limiting, and the public login routes that need no credential.

A request with `Authorization: Bearer <jwt>` is verified against auth's public JWKS (inlined
at start), its claims become the identity headers services trust, and ext_authz is skipped for
it (its filter is enabled only when jwt_authn left no verified payload). Any other request
(keypair-signed, or no credential) goes to ext_authz exactly as before. A bad or expired token
is refused by Envoy with 401.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from libs.core import access
from libs.core.identity import (
    HEADER_ACCESS_KEY,
    HEADER_DOMAIN,
    HEADER_EMAIL,
    HEADER_PROJECT_IDS,
    HEADER_ROLE,
    HEADER_USER_ID,
)

JWT_AUTHN = "envoy.filters.http.jwt_authn"
LOCAL_RATELIMIT = "envoy.filters.http.local_ratelimit"
PROVIDER = "shipyard"
PAYLOAD_KEY = "jwt_payload"
ISSUER = "shipyard-auth"  # must match services/auth/adapters/access_tokens.py
AUDIENCE = "shipyard-edge"
# Token claim -> identity header (the claims auth puts in every access token).
CLAIM_HEADERS = {
    "sub": HEADER_USER_ID,
    "ak": HEADER_ACCESS_KEY,
    "role": HEADER_ROLE,
    "dom": HEADER_DOMAIN,
    "prj": HEADER_PROJECT_IDS,
    "email": HEADER_EMAIL,
}
_T = "type.googleapis.com/envoy."
_USER_DESCRIPTOR = "bearer_user"


def jwt_authn_filter(
    jwks: str, public: list[tuple[str, str]], clock_skew_seconds: int
) -> dict[str, Any]:
    provider = {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "local_jwks": {"inline_string": jwks},
        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
        "forward": False,  # the token never reaches a service
        "claim_to_headers": [{"header_name": h, "claim_name": c} for c, h in CLAIM_HEADERS.items()],
        "payload_in_metadata": PAYLOAD_KEY,
        # Counts against the token's lifetime: auth's TTL + this skew stays within 5 minutes.
        "clock_skew_seconds": clock_skew_seconds,
    }
    # No bearer token (keypair signature or nothing): let it through to ext_authz.
    requires = {
        "requires_any": {"requirements": [{"provider_name": PROVIDER}, {"allow_missing": {}}]}
    }
    return {
        "name": JWT_AUTHN,
        "typed_config": {
            "@type": _T + "extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {PROVIDER: provider},
            # Public calls (login, refresh) verify nothing, even a stale token sent along.
            "rules": [
                *({"match": {"path": path}} for path, _ in public),
                {"match": {"prefix": "/"}, "requires": requires},
            ],
        },
    }


def ext_authz_unless_bearer() -> dict[str, Any]:
    """ExtAuthz `filter_enabled_metadata`: run only when no JWT was verified."""
    return {
        "filter": JWT_AUTHN,
        "path": [{"key": PAYLOAD_KEY}],
        "value": {"present_match": True},
        "invert": True,
    }


def local_ratelimit_filter(requests: int, window_seconds: int) -> dict[str, Any]:
    """At most `requests` per `window_seconds` per bearer user, per Envoy worker.

    Keyed by the user-id header that jwt_authn just set (clients' copies were stripped first);
    keypair-signed requests have no such header yet here and are limited by auth instead.
    """
    action = {
        "request_headers": {
            "header_name": HEADER_USER_ID,
            "descriptor_key": _USER_DESCRIPTOR,
            "skip_if_absent": True,
        }
    }
    config = _limit("bearer_rate_limit", _USER_DESCRIPTOR, action, requests, window_seconds)
    return {"name": LOCAL_RATELIMIT, "typed_config": config}


def login_rate_limit(requests: int, window_seconds: int) -> dict[str, Any]:
    """Per-route config for the public RPCs: `requests` per window per client address, so
    passwords cannot be guessed at the edge's full speed."""
    action: dict[str, Any] = {"remote_address": {}}
    config = _limit("login_rate_limit", "remote_address", action, requests, window_seconds)
    # Envoy requires a route-level default bucket; every request has an address, so only the
    # per-address buckets are ever consumed.
    return {
        **config,
        "token_bucket": config["descriptors"][0]["token_bucket"],
        "always_consume_default_token_bucket": False,
    }


def _limit(
    stat_prefix: str, key: str, action: dict[str, Any], requests: int, window_seconds: int
) -> dict[str, Any]:
    bucket = {
        "max_tokens": requests,
        "tokens_per_fill": requests,
        "fill_interval": f"{window_seconds}s",
    }
    always = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    return {
        "@type": _T + "extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        "stat_prefix": stat_prefix,
        "filter_enabled": {**always, "runtime_key": f"edge.{stat_prefix}.enabled"},
        "filter_enforced": {**always, "runtime_key": f"edge.{stat_prefix}.enforced"},
        # One bucket per distinct value (an entry without a value matches any value).
        "descriptors": [{"entries": [{"key": key}], "token_bucket": bucket}],
        "max_dynamic_descriptors": 10_000,
        "rate_limits": [{"actions": [action]}],
        "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
    }


def public_paths(descriptor_set: Path, services: set[str]) -> list[tuple[str, str]]:
    """(path, service) for the gRPC and REST paths of the public RPCs (login, refresh, ...)
    served through the edge."""
    rest: dict[str, str] = {}
    try:
        fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    except (OSError, DecodeError):
        # Envoy itself refuses to start on this descriptor set, with a clearer message.
        fds = descriptor_pb2.FileDescriptorSet()
    for file in fds.file:
        for svc in file.service:
            for rpc in svc.method:
                http = rpc.options.Extensions[annotations_pb2.http]
                pattern = http.get or http.post or http.put or http.patch or http.delete
                rest[f"/{file.package}.{svc.name}/{rpc.name}"] = pattern
    paths: list[tuple[str, str]] = []
    for path, access_rule in access.METHODS.items():
        service = path.split("/")[1]
        if not access_rule.public or service not in services:
            continue
        paths.append((path, service))
        pattern = rest.get(path, "")
        if "{" in pattern:
            raise ValueError(f"public {path} has a templated REST path {pattern!r}")
        if pattern:
            paths.append((pattern, service))
    return paths
