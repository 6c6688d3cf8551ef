"""Bearer tokens at the edge: Envoy verifies auth's JWTs itself (jwt_authn), per-user local rate
limiting, and the public login routes that need no credential.

A request with `Authorization: Bearer <jwt>` is verified against auth's public JWKS (inlined
at start), its claims become the identity headers services trust, and ext_authz is skipped for
it (its filter is enabled only when jwt_authn left no verified payload). Any other request
(keypair-signed, or no credential) goes to ext_authz exactly as before. A bad or expired token
is refused by Envoy with 401.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from envoy_data_plane.envoy.config.core.v3 import DataSource, RuntimeFractionalPercent
from envoy_data_plane.envoy.config.route.v3 import (
    RateLimit,
    RateLimitAction,
    RateLimitActionRemoteAddress,
    RateLimitActionRequestHeaders,
    RouteMatch,
)
from envoy_data_plane.envoy.extensions.common.ratelimit.v3 import (
    LocalRateLimitDescriptor,
    RateLimitDescriptorEntry,
    XRateLimitHeadersRfcVersion,
)
from envoy_data_plane.envoy.extensions.filters.http.jwt_authn.v3 import (
    JwtAuthentication,
    JwtClaimToHeader,
    JwtHeader,
    JwtProvider,
    JwtRequirement,
    JwtRequirementOrList,
    RequirementRule,
)
from envoy_data_plane.envoy.extensions.filters.http.local_ratelimit.v3 import LocalRateLimit
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpFilter,
)
from envoy_data_plane.envoy.type.matcher.v3 import (
    MetadataMatcher,
    MetadataMatcherPathSegment,
    ValueMatcher,
)
from envoy_data_plane.envoy.type.v3 import (
    FractionalPercent,
    FractionalPercentDenominatorType,
    TokenBucket,
)
from envoy_data_plane.google.protobuf import Any, Empty
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from gateway.apps import PROVIDER as APP_PROVIDER
from libs.core import rpc_access
from libs.core.identity import (
    HEADER_ACCESS_KEY,
    HEADER_DOMAIN,
    HEADER_EMAIL,
    HEADER_PROJECT_IDS,
    HEADER_ROLE,
    HEADER_USER_ID,
    LOGIN_COOKIE,
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
_USER_DESCRIPTOR = "bearer_user"


def jwt_authn_filter(
    jwks: str,
    public: list[tuple[str, str]],
    clock_skew_seconds: int,
    app: tuple[JwtProvider, RequirementRule] | None = None,
) -> HttpFilter:
    provider = JwtProvider(
        issuer=ISSUER,
        audiences=[AUDIENCE],
        local_jwks=DataSource(inline_string=jwks),
        from_headers=[JwtHeader(name="authorization", value_prefix="Bearer ")],
        # Browsers: the HttpOnly cookie login sets (never a secret in a URL).
        from_cookies=[LOGIN_COOKIE],
        forward=False,  # the token never reaches a service
        claim_to_headers=[
            JwtClaimToHeader(header_name=h, claim_name=c) for c, h in CLAIM_HEADERS.items()
        ],
        payload_in_metadata=PAYLOAD_KEY,
        # Counts against the token's lifetime: auth's TTL + this skew stays within 5 minutes.
        clock_skew_seconds=clock_skew_seconds,
    )
    # No bearer token (keypair signature or nothing): let it through to ext_authz.
    either = [JwtRequirement(provider_name=PROVIDER), JwtRequirement(allow_missing=Empty())]
    requires = JwtRequirement(requires_any=JwtRequirementOrList(requirements=either))
    providers = {PROVIDER: provider}
    app_rules: list[RequirementRule] = []
    if app is not None:  # session apps' hosts (gateway/apps.py) need their own token
        providers[APP_PROVIDER] = app[0]
        app_rules.append(app[1])
    config = JwtAuthentication(
        providers=providers,
        # Public calls (login, refresh) verify nothing, even a stale token sent along.
        rules=[
            *app_rules,
            *(RequirementRule(match=RouteMatch(path=path)) for path, _ in public),
            RequirementRule(match=RouteMatch(prefix="/"), requires=requires),
        ],
    )
    return HttpFilter(name=JWT_AUTHN, typed_config=Any.pack(config))


def ext_authz_unless_bearer() -> MetadataMatcher:
    """ExtAuthz `filter_enabled_metadata`: run only when no JWT was verified."""
    return MetadataMatcher(
        filter=JWT_AUTHN,
        path=[MetadataMatcherPathSegment(key=PAYLOAD_KEY)],
        value=ValueMatcher(present_match=True),
        invert=True,
    )


def local_ratelimit_filter(requests: int, window_seconds: int) -> HttpFilter:
    """At most `requests` per `window_seconds` per bearer user, per Envoy worker.

    Keyed by the user-id header that jwt_authn just set (clients' copies were stripped first);
    keypair-signed requests have no such header yet here and are limited by auth instead.
    """
    action = RateLimitAction(
        request_headers=RateLimitActionRequestHeaders(
            header_name=HEADER_USER_ID, descriptor_key=_USER_DESCRIPTOR, skip_if_absent=True
        )
    )
    config = _limit("bearer_rate_limit", _USER_DESCRIPTOR, action, requests, window_seconds)
    return HttpFilter(name=LOCAL_RATELIMIT, typed_config=Any.pack(config))


def login_rate_limit(requests: int, window_seconds: int) -> LocalRateLimit:
    """Per-route config for the public RPCs: `requests` per window per client address, so
    passwords cannot be guessed at the edge's full speed."""
    action = RateLimitAction(remote_address=RateLimitActionRemoteAddress())
    config = _limit("login_rate_limit", "remote_address", action, requests, window_seconds)
    # Envoy requires a route-level default bucket; every request has an address, so only the
    # per-address buckets are ever consumed.
    config.token_bucket = _bucket(requests, window_seconds)
    config.always_consume_default_token_bucket = False
    return config


def _bucket(requests: int, window_seconds: int) -> TokenBucket:
    return TokenBucket(
        max_tokens=requests,
        tokens_per_fill=requests,
        fill_interval=timedelta(seconds=window_seconds),
    )


def _always(runtime_key: str) -> RuntimeFractionalPercent:
    hundred = FractionalPercent(numerator=100, denominator=FractionalPercentDenominatorType.HUNDRED)
    return RuntimeFractionalPercent(default_value=hundred, runtime_key=runtime_key)


def _limit(
    stat_prefix: str, key: str, action: RateLimitAction, requests: int, window_seconds: int
) -> LocalRateLimit:
    return LocalRateLimit(
        stat_prefix=stat_prefix,
        filter_enabled=_always(f"edge.{stat_prefix}.enabled"),
        filter_enforced=_always(f"edge.{stat_prefix}.enforced"),
        # One bucket per distinct value (an entry without a value matches any value).
        descriptors=[
            LocalRateLimitDescriptor(
                entries=[RateLimitDescriptorEntry(key=key)],
                token_bucket=_bucket(requests, window_seconds),
            )
        ],
        max_dynamic_descriptors=10_000,
        rate_limits=[RateLimit(actions=[action])],
        enable_x_ratelimit_headers=XRateLimitHeadersRfcVersion.DRAFT_VERSION_03,
    )


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
    for path, access_rule in rpc_access.METHODS.items():
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
