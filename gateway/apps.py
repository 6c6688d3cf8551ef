"""Session apps on the edge (docs/apps.md): one host name per app under EDGE_APP_DOMAIN, opened
by a short-lived app token that the edge turns into a host-only cookie and verifies itself.

- jwt_authn's `app` provider takes the token from `?token=` or the `shipyard_app` cookie (HS256,
  key derived from the internal token) on app hosts only, and puts its `host` claim into
  `x-shipyard-app-host`; the app's virtual host routes only when that header names it.
- A request carrying `?token=` is answered with a redirect to the same path without it, and a
  Set-Cookie holding the token; later requests carry the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from envoy_data_plane.envoy.config.core.v3 import (
    DataSource,
    HeaderValue,
    HeaderValueOption,
    HeaderValueOptionHeaderAppendAction,
)
from envoy_data_plane.envoy.config.route.v3 import (
    DirectResponseAction,
    FilterConfig,
    HeaderMatcher,
    QueryParameterMatcher,
    RedirectAction,
    RedirectActionRedirectResponseCode,
    Route,
    RouteAction,
    RouteActionUpgradeConfig,
    RouteMatch,
    VirtualHost,
)
from envoy_data_plane.envoy.extensions.filters.http.jwt_authn.v3 import (
    JwtClaimToHeader,
    JwtProvider,
    JwtRequirement,
    RequirementRule,
)
from envoy_data_plane.envoy.type.matcher.v3 import RegexMatcher, StringMatcher
from envoy_data_plane.google.protobuf import Any

from gateway.xds import types as t
from libs.core.app_keys import HEADER_APP_KEY

PROVIDER = "app"
ISSUER = "shipyard-edge"
AUDIENCE = "shipyard-app"
COOKIE = "shipyard_app"
TOKEN_PARAM = "token"
HEADER_APP_HOST = "x-shipyard-app-host"
PAYLOAD_KEY = "app_payload"  # not the bearer's key: ext_authz still runs for app tokens elsewhere
_KID = "app"
_TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
_EXT_AUTHZ = "envoy.filters.http.ext_authz"
_GRPC_WEB = "envoy.filters.http.grpc_web"


def app_key(internal_token: str) -> bytes:
    """The HS256 key of app tokens: derived from the deployment's secret, so every gateway
    replica issues and verifies the same tokens without another secret to distribute."""
    return hmac.new(internal_token.encode(), b"shipyard edge app tokens", hashlib.sha256).digest()


def host_label(app: str, session_id: str) -> str:
    return f"{app}-{session_id}"


def issue_token(
    key: bytes, label: str, user_id: str, ttl: timedelta, now: datetime | None = None
) -> tuple[str, datetime]:
    """A token opening the app `label` for `ttl`; (token, expiry)."""
    issued = now or datetime.now(UTC)
    expires = issued + ttl
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "host": label,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": _KID}), expires


def provider(key: bytes) -> JwtProvider:
    k = base64.urlsafe_b64encode(key).rstrip(b"=").decode()
    jwks = json.dumps({"keys": [{"kty": "oct", "alg": "HS256", "kid": _KID, "k": k}]})
    return JwtProvider(
        issuer=ISSUER,
        audiences=[AUDIENCE],
        local_jwks=DataSource(inline_string=jwks),
        from_params=[TOKEN_PARAM],
        from_cookies=[COOKIE],
        forward=True,  # the redirect copies the token from the query into the cookie
        claim_to_headers=[JwtClaimToHeader(header_name=HEADER_APP_HOST, claim_name="host")],
        payload_in_metadata=PAYLOAD_KEY,
        clear_route_cache=True,  # the app's routes match on the header just set
        clock_skew_seconds=1,
    )


def host_pattern(domain: str) -> str:
    return rf"^[a-z][a-z0-9-]*\.{re.escape(domain)}(:[0-9]+)?$"


def requirement_rule(domain: str) -> RequirementRule:
    """App hosts need a valid app token (query or cookie); nothing else opens them."""
    authority = HeaderMatcher(
        name=":authority",
        string_match=StringMatcher(safe_regex=RegexMatcher(regex=host_pattern(domain))),
    )
    return RequirementRule(
        match=RouteMatch(prefix="/", headers=[authority]),
        requires=JwtRequirement(provider_name=PROVIDER),
    )


@dataclass(frozen=True, slots=True)
class AppRoute:
    """One session app: its host label and where it is served."""

    session_id: str
    label: str
    backend: tuple[str, int]
    backend_key: str = ""  # sent to the agent's listener (libs/core/app_keys.py)

    @property
    def cluster(self) -> str:
        return f"app.{self.label}"


def cluster(route: AppRoute) -> t.Cluster:
    """HTTP/1.1 (WebSocket upgrades pass through), one static endpoint."""
    host, port = route.backend
    endpoint = t.Endpoint(
        address=t.Address(socket_address=t.SocketAddress(address=host, port_value=port))
    )
    return t.Cluster(
        name=route.cluster,
        type=t.ClusterDiscoveryType.STATIC,
        connect_timeout=timedelta(seconds=2),
        load_assignment=t.ClusterLoadAssignment(
            cluster_name=route.cluster,
            endpoints=[t.LocalityLbEndpoints(lb_endpoints=[t.LbEndpoint(endpoint=endpoint)])],
        ),
    )


def virtual_host(route: AppRoute, domain: str, cookie_max_age: int) -> VirtualHost:
    host = f"{route.label}.{domain}"
    mine = HeaderMatcher(name=HEADER_APP_HOST, string_match=StringMatcher(exact=route.label))
    cookie = (
        f"{COOKIE}=%QUERY_PARAM({TOKEN_PARAM})%; Path=/; HttpOnly; SameSite=Lax; "
        f"Max-Age={cookie_max_age}"
    )
    set_cookie = HeaderValueOption(
        header=HeaderValue(key="set-cookie", value=cookie),
        append_action=HeaderValueOptionHeaderAppendAction.APPEND_IF_EXISTS_OR_ADD,
    )
    with_token = QueryParameterMatcher(name=TOKEN_PARAM, present_match=True)
    routes = [
        Route(
            name=f"app-login:{route.label}",
            match=RouteMatch(prefix="/", headers=[mine], query_parameters=[with_token]),
            # 302: a browser must not remember it (301 is cached).
            redirect=RedirectAction(
                strip_query=True, response_code=RedirectActionRedirectResponseCode.FOUND
            ),
            response_headers_to_add=[set_cookie],
        ),
        Route(
            name=f"app:{route.label}",
            match=RouteMatch(prefix="/", headers=[mine]),
            route=RouteAction(
                cluster=route.cluster,
                timeout=timedelta(0),  # long polls and WebSockets
                upgrade_configs=[RouteActionUpgradeConfig(upgrade_type="websocket", enabled=True)],
            ),
            request_headers_to_add=[
                HeaderValueOption(
                    header=HeaderValue(key=HEADER_APP_KEY, value=route.backend_key),
                    append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
                )
            ],
        ),
        Route(
            name=f"app-other:{route.label}",
            match=RouteMatch(prefix="/"),
            direct_response=DirectResponseAction(
                status=403, body=DataSource(inline_string="this token does not open this app\n")
            ),
        ),
    ]
    off = Any.pack(FilterConfig(disabled=True))
    return VirtualHost(
        name=f"app:{route.label}",
        domains=[host, f"{host}:*"],
        routes=routes,
        # App traffic is the app's own: no gRPC transcoding, no keypair check.
        typed_per_filter_config={_TRANSCODER: off, _EXT_AUTHZ: off, _GRPC_WEB: off},
    )
