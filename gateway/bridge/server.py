"""The bridge: an HTTP server behind Envoy that serves streaming RPCs as SSE and WebSockets.

Envoy routes only the bridged paths here, after authenticating the request; the identity headers
it injected and its internal token are passed on as gRPC metadata, exactly as Envoy passes them
to the services. Errors known before the stream starts become HTTP statuses; later ones become
an SSE `error` event or the WebSocket's close code (docs/streaming.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import grpc
from aiohttp import WSMsgType, web
from google.protobuf.message import Message

from gateway.bridge import codec
from gateway.bridge.routes import BridgeRoute, Kind
from libs.core.identity import HEADER_INTERNAL_TOKEN, IDENTITY_HEADERS

log = logging.getLogger(__name__)

FORWARDED = (*IDENTITY_HEADERS, HEADER_INTERNAL_TOKEN, "traceparent", "tracestate")
# How long to wait for the service to accept the call before answering the browser: a service
# that starts its stream at once (sends headers) is answered with its own status; a service
# that stays silent longer is answered 200 and any later error travels in the stream.
ACCEPT_WAIT = 2.0
# A comment line this often keeps an idle SSE stream from looking dead to proxies and browsers.
SSE_KEEPALIVE = 15.0


class Bridge:
    """An aiohttp application serving `routes`; `channels` maps each service to its upstream."""

    def __init__(
        self,
        routes: list[BridgeRoute],
        channels: Mapping[str, grpc.aio.Channel],
        internal_token: str,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        self._routes = routes
        self._channels = channels
        self._token = internal_token
        self._origins = allowed_origins
        self.app = web.Application()
        self.app.router.add_route("GET", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        presented = request.headers.get(HEADER_INTERNAL_TOKEN, "")
        if not hmac.compare_digest(presented.encode(), self._token.encode()):
            return _error(grpc.StatusCode.UNAUTHENTICATED, "requests must come through the edge")
        if not self._origin_allowed(request):
            # A page of another site must not ride on a browser's credentials (cookies).
            return _error(grpc.StatusCode.PERMISSION_DENIED, "origin not allowed")
        for route in self._routes:
            variables = route.match(request.path)
            if variables is not None:
                break
        else:
            return _error(grpc.StatusCode.NOT_FOUND, f"no streaming route for {request.path}")
        params = [*request.query.items(), *variables.items()]  # the path wins over the query
        try:
            message = codec.build_request(
                route.request, params, last_event_id=request.headers.get("Last-Event-ID")
            )
        except codec.BadRequest as exc:
            return _error(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        metadata = tuple((h, request.headers[h]) for h in FORWARDED if h in request.headers)
        channel = self._channels[route.service]
        if route.kind is Kind.SSE:
            return await self._sse(request, route, channel, message, metadata)
        return await self._websocket(request, route, channel, message, metadata)

    def _origin_allowed(self, request: web.Request) -> bool:
        """No Origin (not a browser), the edge's own origin, or one of EDGE_CORS_ORIGINS."""
        origin = request.headers.get("Origin")
        if origin is None or origin in self._origins:
            return True
        return urlsplit(origin).netloc == request.host

    async def _sse(
        self,
        request: web.Request,
        route: BridgeRoute,
        channel: grpc.aio.Channel,
        message: Message,
        metadata: tuple[tuple[str, str], ...],
    ) -> web.StreamResponse:
        call = channel.unary_stream(
            route.grpc_path,
            request_serializer=_serialize,
            response_deserializer=route.response.FromString,
        )(message, metadata=metadata)
        if (refused := await _accepted(call)) is not None:
            return refused
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        writing = asyncio.Lock()

        async def write(chunk: bytes) -> None:
            async with writing:
                await response.write(chunk)

        async def keep_alive() -> None:
            try:
                while True:
                    await asyncio.sleep(SSE_KEEPALIVE)
                    await write(b": keep-alive\n\n")
            except ConnectionError:
                call.cancel()  # the browser went away while nothing happened

        beating = asyncio.create_task(keep_alive())
        try:
            await write(b": stream open\n\n")
            async for item in call:
                await write(_sse_event(item))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED or not beating.done():
                error = codec.error_body(exc.code(), exc.details() or "")
                with contextlib.suppress(ConnectionError):
                    await write(f"event: error\ndata: {error}\n\n".encode())
        except ConnectionError:  # the browser went away
            pass
        except asyncio.CancelledError:
            if not beating.done():  # not the keep-alive's doing: this handler is being cancelled
                raise
        finally:
            beating.cancel()
            call.cancel()
        return response

    async def _websocket(
        self,
        request: web.Request,
        route: BridgeRoute,
        channel: grpc.aio.Channel,
        first: Message,
        metadata: tuple[tuple[str, str], ...],
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30.0)
        if not ws.can_prepare(request).ok:
            return _error(grpc.StatusCode.INVALID_ARGUMENT, "a WebSocket upgrade is expected")
        call = channel.stream_stream(
            route.grpc_path,
            request_serializer=_serialize,
            response_deserializer=route.response.FromString,
        )(metadata=metadata)
        await call.write(first)
        if (refused := await _accepted(call)) is not None:
            return refused
        await ws.prepare(request)
        outbound = asyncio.create_task(_relay_out(call, ws))
        try:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    await ws.close(code=1003, message=b"text frames of proto3 JSON expected")
                    break
                try:
                    await call.write(codec.parse_json(route.request, frame.data))
                except codec.BadRequest as exc:
                    await ws.close(code=1007, message=str(exc).encode()[:120])
                    break
                except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                    break  # the stream ended; _relay_out reports how
        finally:
            if outbound.done():
                await outbound
            else:
                call.cancel()  # the browser is gone: so is the call
                with contextlib.suppress(asyncio.CancelledError):
                    await outbound
        return ws


async def _relay_out(call: Any, ws: web.WebSocketResponse) -> None:
    code, details = grpc.StatusCode.OK, ""
    try:
        async for item in call:
            await ws.send_str(codec.to_json(item))
    except grpc.aio.AioRpcError as exc:
        code, details = exc.code(), exc.details() or ""
    except ConnectionError:
        return
    if code == grpc.StatusCode.CANCELLED and ws.closed:
        return
    await ws.close(code=codec.close_code(code), message=details.encode()[:120])


async def _accepted(call: Any) -> web.Response | None:
    """An HTTP error when the service refused the call at once; None once it accepted it (sent
    its headers) or stayed silent for ACCEPT_WAIT seconds."""
    waiting = asyncio.ensure_future(call.initial_metadata())
    done, _ = await asyncio.wait({waiting}, timeout=ACCEPT_WAIT)
    if not done:
        waiting.add_done_callback(_consume)
        return None
    # A refusal is a trailers-only response: the call is over once its "headers" came.
    if call.done() and (code := await call.code()) != grpc.StatusCode.OK:
        return _error(code, await call.details() or "")
    return None


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # the stream reports it; keep asyncio from logging it twice


def _sse_event(message: Message) -> bytes:
    lines = []
    if event_id := _one_line(codec.text_field(message, "event_id")):
        lines.append(f"id: {event_id}")
    if name := _one_line(codec.text_field(message, "name")):
        lines.append(f"event: {name}")
    lines.append(f"data: {codec.to_json(message)}")
    return ("\n".join(lines) + "\n\n").encode()


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _error(code: grpc.StatusCode, message: str) -> web.Response:
    return web.Response(
        status=codec.http_status(code),
        text=codec.error_body(code, message),
        content_type="application/json",
    )
