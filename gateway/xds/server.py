"""The ADS server (state of the world) Envoy connects to, on a Unix socket only its owner can
open (the resources hold the internal token).

Per stream and type: what was last sent (version, nonce, names). A request whose
`response_nonce` is not the last nonce sent is stale and ignored; one with the last nonce is an
ACK (same version) or a NACK (`error_detail`), recorded either way. A NACKed version is not sent
again; the next change is (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from gateway.xds import types as t
from gateway.xds.state import ControlPlaneState, Reply

log = logging.getLogger(__name__)

ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"
WILDCARD = (t.LISTENER, t.CLUSTER)  # SotW: an empty name list means "all"
_END = object()


@dataclass
class _Sent:
    version: str = ""
    nonce: str = ""
    names: frozenset[str] | None = None


@dataclass
class _Stream:
    subscribed: dict[str, frozenset[str] | None] = field(default_factory=dict)
    sent: dict[str, _Sent] = field(default_factory=dict)


class XdsServer:
    """`await XdsServer(state).start(path)`; `stop()` closes every stream."""

    def __init__(self, state: ControlPlaneState) -> None:
        self.state = state
        self._server: grpc.aio.Server | None = None
        self._nonces = itertools.count(1)
        self._stopping = asyncio.Event()

    async def start(self, socket_path: Path) -> None:
        server = grpc.aio.server()
        handler = grpc.stream_stream_rpc_method_handler(
            self._stream,
            request_deserializer=t.DiscoveryRequest.FromString,
            response_serializer=bytes,
        )
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    ADS_SERVICE, {"StreamAggregatedResources": handler}
                ),
            )
        )
        _remove_stale(socket_path)
        server.add_insecure_port(f"unix:{socket_path}")
        await server.start()
        _owner_only(socket_path)
        self._server = server

    async def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            await self._server.stop(grace=0.5)
            self._server = None

    async def _stream(
        self,
        requests: AsyncIterator[t.DiscoveryRequest],
        context: grpc.aio.ServicerContext,  # noqa: ARG002 - the handler signature
    ) -> AsyncIterator[t.DiscoveryResponse]:
        inbox: asyncio.Queue[object] = asyncio.Queue()

        async def pump() -> None:
            with contextlib.suppress(grpc.RpcError, asyncio.CancelledError):
                async for request in requests:
                    await inbox.put(request)
            await inbox.put(_END)

        reader = asyncio.create_task(pump())
        stream = _Stream()
        got: asyncio.Task[object] | None = None
        waits: set[asyncio.Task[object]] = set()
        try:
            while not self._stopping.is_set():
                changed = self.state.changed()
                for response in self._due(stream):
                    yield response
                got = got or asyncio.create_task(inbox.get())
                waits = {
                    asyncio.create_task(changed.wait()),
                    asyncio.create_task(self._stopping.wait()),
                }
                await asyncio.wait({got, *waits}, return_when=asyncio.FIRST_COMPLETED)
                for task in waits:
                    task.cancel()
                if not got.done():
                    continue  # a change: push it
                item, got = got.result(), None
                if item is _END:
                    return
                assert isinstance(item, t.DiscoveryRequest)
                self._receive(stream, item)
        finally:
            reader.cancel()
            if got is not None:
                got.cancel()
            for task in waits:
                task.cancel()

    def _receive(self, stream: _Stream, request: t.DiscoveryRequest) -> None:
        type_url = request.type_url
        if type_url not in t.PUSH_ORDER:
            log.warning("xds: request for unknown type %s", type_url)
            return
        sent = stream.sent.get(type_url)
        if request.response_nonce:
            if sent is None or request.response_nonce != sent.nonce:
                return  # stale: answers an older response; the newer one is in flight
            error = request.error_detail
            if error is not None and error.code != 0:
                self.state.record(Reply(type_url, sent.version, error.message))
                # Envoy keeps the previous config; do not resend this version.
            else:
                self.state.record(Reply(type_url, request.version_info))
        names = frozenset(request.resource_names)
        wildcard = type_url in WILDCARD and (not names or "*" in names)
        stream.subscribed[type_url] = None if wildcard else names
        if sent is not None and sent.names != stream.subscribed[type_url]:
            sent.version = ""  # a new subscription is answered even at the same version

    def _due(self, stream: _Stream) -> list[t.DiscoveryResponse]:
        due = []
        for type_url in t.PUSH_ORDER:
            if type_url not in stream.subscribed:
                continue
            names = stream.subscribed[type_url]
            version = self.state.version(type_url)
            sent = stream.sent.setdefault(type_url, _Sent())
            if sent.version == version and sent.names == names:
                continue
            available = self.state.resources(type_url)
            chosen = [a for n, a in sorted(available.items()) if names is None or n in names]
            nonce = str(next(self._nonces))
            stream.sent[type_url] = _Sent(version=version, nonce=nonce, names=names)
            due.append(
                t.DiscoveryResponse(
                    version_info=version, resources=chosen, type_url=type_url, nonce=nonce
                )
            )
        return due


def _remove_stale(path: Path) -> None:
    path.unlink(missing_ok=True)  # a socket left by an earlier run


def _owner_only(path: Path) -> None:
    path.chmod(0o600)
