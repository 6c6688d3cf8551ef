"""A small, strict HTTP/1.1 server on asyncio's Protocol: one `recv` and one `send` per request.

Made for one caller, Envoy's ext_authz HTTP client (docs/decisions.md, D6): keep-alive,
pipelined requests answered in order, bounded parsing (head size, header count, body size),
Content-Length bodies only (a Transfer-Encoding is refused). Malformed input gets a 400 (431,
413) after the answers already owed, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast

from typing_extensions import override

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024  # Envoy's own default limit on request headers is 60 KiB
MAX_HEADERS = 100  # Envoy's default header count limit
MAX_BODY_BYTES = 64 * 1024
MAX_PIPELINED = 32  # answers owed on one connection before it stops reading

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") (/[!-~]*) HTTP/1\.([01])")
_HEADER = re.compile(rb"(" + _TOKEN + rb"):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str  # origin-form: path and query
    headers: dict[str, str]  # lower-case names; a repeated header's values joined by ", "
    body: bytes
    keep_alive: bool


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, why: str) -> None:
        super().__init__(why)
        self.status = status


class RequestParser:
    """Bytes in, complete requests out; BadRequest on anything malformed or over a bound."""

    def __init__(
        self,
        *,
        max_head: int = MAX_HEAD_BYTES,
        max_headers: int = MAX_HEADERS,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self._buffer = bytearray()
        self.error: BadRequest | None = None
        self._max_head, self._max_headers, self._max_body = max_head, max_headers, max_body

    def feed(self, data: bytes) -> list[Request]:
        """The requests `data` completes; after malformed input, `error` says why and no
        more requests come."""
        if self.error is not None:
            return []
        self._buffer += data
        requests: list[Request] = []
        try:
            while (request := self._next()) is not None:
                requests.append(request)
        except BadRequest as exc:
            self.error = exc
            self._buffer.clear()
        return requests

    def _next(self) -> Request | None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > self._max_head:
                raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "head too large")
            return None
        if end > self._max_head:
            raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "head too large")
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        start = _REQUEST_LINE.fullmatch(lines[0])
        if start is None:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed request line")
        if len(lines) - 1 > self._max_headers:
            raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "too many headers")
        headers = _headers(lines[1:])
        length = _content_length(headers, self._max_body)
        if len(self._buffer) < end + 4 + length:
            return None  # the body is still coming
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        http11 = start[3] == b"1"
        if http11 and "host" not in headers:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "no Host header")
        tokens = {t.strip() for t in headers.get("connection", "").lower().split(",")}
        keep_alive = "close" not in tokens if http11 else "keep-alive" in tokens
        return Request(
            method=start[1].decode("ascii"),
            target=start[2].decode("ascii"),
            headers=headers,
            body=body,
            keep_alive=keep_alive,
        )


def _headers(lines: list[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        # No obs-fold, no space before the colon, no control characters (RFC 9112 §5).
        field = _HEADER.fullmatch(line)
        if field is None:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed header line")
        name, value = field[1].decode("ascii").lower(), field[2].decode("latin-1")
        if name in headers:
            if name in ("content-length", "host"):
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"repeated {name}")
            value = f"{headers[name]}, {value}"
        headers[name] = value
    return headers


def _content_length(headers: dict[str, str], max_body: int) -> int:
    if "transfer-encoding" in headers:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "only Content-Length bodies are accepted")
    text = headers.get("content-length", "0")
    if not text.isdigit() or not text.isascii():
        raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed Content-Length")
    if int(text) > max_body:
        raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
    return int(text)


def encode(response: Response, *, keep_alive: bool, head: bool = False) -> bytes:
    """The response's bytes (without the body for a HEAD request: its length still goes);
    ValueError for a header that would split the response."""
    lines = [f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}"]
    for key, value in response.headers:
        if _UNSAFE_VALUE.search(key) or _UNSAFE_VALUE.search(value):
            raise ValueError(f"control character in response header {key!r}")
        lines.append(f"{key}: {value}")
    lines.append(f"content-length: {len(response.body)}")
    if not keep_alive:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else response.body)


class Http1Connection(asyncio.Protocol):
    """One client connection: requests handled concurrently, answered in arrival order."""

    def __init__(self, handler: Handler, registry: set[Http1Connection]) -> None:
        self._handler = handler
        self._registry = registry
        self._parser = RequestParser()
        self._owed: deque[tuple[Request, asyncio.Task[Response]]] = deque()
        self._transport: asyncio.Transport | None = None
        self._done = False  # no more requests are read: malformed input, or the last one
        self._paused = False

    @override
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (`create_server`'s); uvloop's is none of asyncio's classes.
        self._transport = cast(asyncio.Transport, transport)
        self._registry.add(self)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    @override
    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        for request in self._parser.feed(data):
            task = asyncio.ensure_future(self._handler(request))
            self._owed.append((request, task))
            task.add_done_callback(self._flush)
            if not request.keep_alive:
                self._done = True
                break
        self._done = self._done or self._parser.error is not None
        if self._done or len(self._owed) >= MAX_PIPELINED:
            self._pause()
        self._flush()

    def _flush(self, _: object = None) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        while self._owed and self._owed[0][1].done():
            request, task = self._owed.popleft()
            transport.write(_answer(task, request))
            if not request.keep_alive:
                transport.close()
                return
        if self._owed:
            return
        if (error := self._parser.error) is not None:
            log.debug("refused a request: %s", error)
            refusal = Response(error.status, (("content-type", "text/plain"),), str(error).encode())
            transport.write(encode(refusal, keep_alive=False))
            transport.close()
        elif self._paused and not self._done:
            self._paused = False
            transport.resume_reading()

    def _pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    @override
    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._registry.discard(self)
        for _, task in self._owed:
            task.cancel()
        self._owed.clear()


def _answer(task: asyncio.Task[Response], request: Request) -> bytes:
    head = request.method == "HEAD"
    try:
        return encode(task.result(), keep_alive=request.keep_alive, head=head)
    except Exception:
        log.exception("the handler failed")
        failed = Response(HTTPStatus.INTERNAL_SERVER_ERROR)
        return encode(failed, keep_alive=request.keep_alive, head=head)


class Http1Server:
    """A listening socket and its open connections (closed with it, unlike asyncio's own)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._connections: set[Http1Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        """Listen on host:port (0: any free port, then see `port`)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Http1Connection(self._handler, self._connections), host, port, ssl=tls
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.abort()
        if self._server is not None:
            await self._server.wait_closed()
