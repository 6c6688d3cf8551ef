"""Envoy's side of the bridge: one route per bridged RPC, sent to the bridge's cluster with the
transcoder off (it must not claim these paths) and, for WebSockets, the upgrade allowed."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.route.v3 import (
    FilterConfig,
    HeaderMatcher,
    Route,
    RouteAction,
    RouteActionUpgradeConfig,
    RouteMatch,
)
from envoy_data_plane.envoy.type.matcher.v3 import RegexMatcher, StringMatcher
from envoy_data_plane.google.protobuf import Any

from gateway.bridge.routes import Kind, discover
from gateway.config import BRIDGE_CLUSTER, EdgeSettings

TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
WEBSOCKET = "websocket"
SSE_ACCEPT = "text/event-stream"


def bridge_routes(settings: EdgeSettings) -> list[Route]:
    """Server-streaming RPCs go to the bridge only when the client asks for SSE (`Accept:
    text/event-stream`); other clients keep the transcoder's JSON array. Bidi RPCs always do."""
    if not settings.bridge_enabled():
        return []
    off = {TRANSCODER: Any.pack(FilterConfig(disabled=True))}
    routes: list[Route] = []
    for r in discover(settings.descriptor_set, set(settings.public_services)):
        match = RouteMatch(safe_regex=RegexMatcher(regex=r.regex))
        # Long-lived: no route timeout and no idle timeout (WebSockets are pinged by the bridge).
        action = RouteAction(
            cluster=BRIDGE_CLUSTER, timeout=timedelta(0), idle_timeout=timedelta(0)
        )
        if r.kind is Kind.WEBSOCKET:
            action.upgrade_configs = [
                RouteActionUpgradeConfig(upgrade_type=WEBSOCKET, enabled=True)
            ]
        else:
            accept = StringMatcher(contains=SSE_ACCEPT, ignore_case=True)
            match.headers = [HeaderMatcher(name="accept", string_match=accept)]
        routes.append(
            Route(
                name=f"bridge:{r.grpc_path}", match=match, route=action, typed_per_filter_config=off
            )
        )
    return routes
