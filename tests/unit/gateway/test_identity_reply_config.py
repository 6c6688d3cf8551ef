"""The edge answers a signed GET /v1/identity itself (gateway/identity_reply.py), in the static
bootstrap and the xDS-served routes alike, and only there."""

from __future__ import annotations

from typing import Any

import pytest
from betterproto2 import Casing

from gateway.xds import routes
from gateway.xds import types as t
from gateway.xds.state import ControlPlaneState
from libs.core.identity_reply import HEADER_IDENTITY_REPLY
from tests.unit.gateway.bootstrap_json import bootstrap_json, filters, hcm, settings, vhost

LUA = "envoy.filters.http.lua"


def _lua_enabled(route: dict[str, Any]) -> bool:
    return LUA in route.get("typed_per_filter_config", {})


def _identity_routes(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in table if _lua_enabled(r)]


def test_the_lua_filter_is_off_except_on_the_identity_route():
    boot = bootstrap_json(settings())
    (lua,) = [f for f in hcm(boot)["http_filters"] if f["name"] == LUA]
    assert lua["disabled"] is True
    (script,) = lua["typed_config"]["source_codes"].values()
    assert HEADER_IDENTITY_REPLY in script["inline_string"]
    table = vhost(boot)["routes"]
    (route,) = _identity_routes(table)
    assert route["match"]["path"] == "/v1/identity"
    assert route["match"]["headers"] == [{"name": ":method", "string_match": {"exact": "GET"}}]
    per_route = route["typed_per_filter_config"][LUA]["config"]
    assert per_route["name"] in lua["typed_config"]["source_codes"]
    # Before the REST prefix's route, which would otherwise take the request.
    rest = next(i for i, r in enumerate(table) if r["match"].get("prefix") == "/v1/")
    assert table.index(route) < rest


@pytest.mark.parametrize("authz", ["http", "grpc"])
def test_no_client_and_no_service_ever_sees_the_header(authz):
    boot = bootstrap_json(settings(authz=authz))
    mutation = filters(boot)["envoy.filters.http.header_mutation"]
    stripped = [m["remove"] for m in mutation["mutations"]["request_mutations"]]
    assert HEADER_IDENTITY_REPLY in stripped  # a client's copy, before ext_authz
    # The router drops auth's copy on every route, whatever took the request there.
    assert vhost(boot)["request_headers_to_remove"] == [HEADER_IDENTITY_REPLY]


def test_the_xds_served_routes_answer_it_too():
    state = ControlPlaneState(settings())
    state.add_cluster("app", "127.0.0.1:7100")
    state.add_route("app", "/apps/a/", "app")
    served = t.RouteConfiguration.parse(state.resources(t.ROUTE)["edge"].value)
    host = served.to_dict(casing=Casing.SNAKE)["virtual_hosts"][0]
    (route,) = _identity_routes(host["routes"])
    assert route["match"]["path"] == "/v1/identity"
    assert host["request_headers_to_remove"] == [HEADER_IDENTITY_REPLY]
    table = routes.route_configuration(settings(), []).virtual_hosts[0].routes
    assert [r.name for r in table].count("identity") == 1
