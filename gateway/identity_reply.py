"""The edge answers a keypair-signed `GET /v1/identity` itself (libs/core/identity_reply.py,
docs/edge-auth.md): auth's Check already resolved the identity and sent GetCurrentIdentity's
REST body along, so the RPC would only echo it back.

A Lua filter after ext_authz, enabled on the identity route alone, answers 200 with that body
when the header is there and lets the request go on otherwise (bearer requests, which never
reach ext_authz, and every Check that did not send it). Envoy strips a client's copy before
ext_authz and the router drops the header before any upstream.
"""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.core.v3 import DataSource
from envoy_data_plane.envoy.config.route.v3 import (
    FilterConfig,
    HeaderMatcher,
    Route,
    RouteAction,
    RouteMatch,
)
from envoy_data_plane.envoy.extensions.filters.http.lua.v3 import Lua, LuaPerRoute
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpFilter,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any

from libs.core.identity_reply import HEADER_IDENTITY_REPLY, IDENTITY_METHOD, IDENTITY_PATH

LUA = "envoy.filters.http.lua"
_SCRIPT_NAME = "identity_reply"

# Decodes encode_reply's %XX escapes; the content type is the transcoder's.
_SCRIPT = f"""
local function byte(hex) return string.char(tonumber(hex, 16)) end
function envoy_on_request(handle)
  local headers = handle:headers()
  local reply = headers:get("{HEADER_IDENTITY_REPLY}")
  if reply == nil then return end
  headers:remove("{HEADER_IDENTITY_REPLY}")
  local body = string.gsub(reply, "%%(%x%x)", byte)
  handle:respond({{[":status"] = "200", ["content-type"] = "application/json"}}, body)
end
"""


def lua_filter() -> HttpFilter:
    """Off by default: only identity_route() turns it on."""
    lua = Lua(source_codes={_SCRIPT_NAME: DataSource(inline_string=_SCRIPT)})
    return HttpFilter(name=LUA, typed_config=Any.pack(lua), disabled=True)


def identity_route(cluster: str) -> Route:
    """GET /v1/identity, before the REST prefix's route; `cluster` is that route's, used only
    if the transcoder could not map the request (it re-routes by the gRPC path)."""
    script = LuaPerRoute(name=_SCRIPT_NAME)
    method = HeaderMatcher(name=":method", string_match=StringMatcher(exact=IDENTITY_METHOD))
    return Route(
        name="identity",
        match=RouteMatch(path=IDENTITY_PATH, headers=[method]),
        route=RouteAction(cluster=cluster, timeout=timedelta(0)),
        typed_per_filter_config={LUA: Any.pack(FilterConfig(config=Any.pack(script)))},
    )
