"""Run the bridge next to Envoy: on 127.0.0.1, a free port unless configured."""

from __future__ import annotations

from typing import Any

import grpc
from aiohttp import web

from gateway.bridge.routes import BridgeRoute, discover
from gateway.bridge.server import Bridge
from gateway.config import EdgeSettings
from gateway.envoy_config import is_ip
from libs.core.config import MtlsFiles
from libs.grpcutil.tls import channel_credentials

_KEEPALIVE = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
)


def bridged_routes(settings: EdgeSettings) -> list[BridgeRoute]:
    return discover(settings.descriptor_set, set(settings.public_services))


def upstream_target(addrs: list[tuple[str, int]]) -> str:
    """A gRPC target balancing over every replica (IP addresses) or resolving one host name."""
    if len(addrs) > 1 and all(is_ip(h) for h, _ in addrs):
        return "ipv4:" + ",".join(f"{h}:{p}" for h, p in addrs)
    host, port = addrs[0]
    return f"{host}:{port}"


class BridgeServer:
    """`await start()` binds `settings.bridge_port` (0: any free port; `.port` tells)."""

    def __init__(self, settings: EdgeSettings) -> None:
        self._settings = settings
        self.routes = bridged_routes(settings)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        s = self._settings
        by_upstream: dict[str, grpc.aio.Channel] = {}
        for route in self.routes:
            upstream = s.public_services[route.service]
            if upstream not in by_upstream:
                target = upstream_target(s.upstream_addrs(upstream))
                options = (*_KEEPALIVE, ("grpc.lb_policy_name", "round_robin"))
                by_upstream[upstream] = _channel(target, options, s.mtls())
            self._channels[route.service] = by_upstream[upstream]
        token = s.internal_token.get_secret_value()
        bridge = Bridge(self.routes, self._channels, token, s.cors_origins)
        # Open streams are cut after a moment: Envoy, in front, is already stopping.
        self._runner = web.AppRunner(
            bridge.app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", s.bridge_port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for channel in set(self._channels.values()):
            await channel.close()
        self._channels.clear()


def _channel(
    target: str, options: tuple[tuple[str, Any], ...], mtls: MtlsFiles | None
) -> grpc.aio.Channel:
    """Over mutual TLS with the edge's certificate when the deployment uses it (like Envoy's
    own upstream connections, gateway/upstream_tls.py)."""
    if mtls is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, channel_credentials(mtls), options=options)
