"""The route of storage's HTTP transfers (tus uploads, Range downloads; docs/storage.md).

The signed transfer token in the URL is the credential, checked by storage itself, so neither
ext_authz nor the transcoder runs on this route; bodies may take as long as they take. Any
origin may call it from a browser (tus-js-client): no cookie or other ambient credential works
here, so a permissive CORS policy gives a page nothing it did not already hold.
"""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.route.v3 import FilterConfig, Route, RouteAction, RouteMatch
from envoy_data_plane.envoy.extensions.filters.http.cors.v3 import CorsPolicy
from envoy_data_plane.envoy.extensions.filters.http.ext_authz.v3 import ExtAuthzPerRoute
from envoy_data_plane.envoy.type.matcher.v3 import RegexMatcher, StringMatcher
from envoy_data_plane.google.protobuf import Any

from gateway.config import STORAGE_HTTP, TRANSFERS_PREFIX, EdgeSettings

TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
_ALLOW_HEADERS = (
    "tus-resumable, upload-length, upload-offset, upload-metadata, content-type, range, "
    "x-http-method-override, x-requested-with"
)
_EXPOSE_HEADERS = (
    "location, upload-offset, upload-length, tus-resumable, tus-version, tus-extension, "
    "content-range, accept-ranges, content-disposition"
)


def transfer_routes(settings: EdgeSettings, *, ext_authz: str, cors: str) -> list[Route]:
    """The transfer route, when storage's HTTP endpoints are configured (else none)."""
    if not settings.storage_http_addr:
        return []
    policy = CorsPolicy(
        allow_origin_string_match=[StringMatcher(safe_regex=RegexMatcher(regex=".*"))],
        allow_methods="GET, HEAD, POST, PATCH, OPTIONS",
        allow_headers=_ALLOW_HEADERS,
        expose_headers=_EXPOSE_HEADERS,
        max_age="600",
    )
    return [
        Route(
            name="storage_transfers",
            match=RouteMatch(prefix=TRANSFERS_PREFIX),
            route=RouteAction(
                cluster=STORAGE_HTTP, timeout=timedelta(0), idle_timeout=timedelta(minutes=5)
            ),
            typed_per_filter_config={
                ext_authz: Any.pack(ExtAuthzPerRoute(disabled=True)),
                TRANSCODER: Any.pack(FilterConfig(disabled=True)),
                cors: Any.pack(policy),
            },
        )
    ]
