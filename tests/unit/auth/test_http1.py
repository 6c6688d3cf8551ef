"""The HTTP/1.1 server of auth's HTTP Check: the parser's bounds, and answers over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.auth.api.http1 import (
    Http1Server,
    Request,
    RequestParser,
    Response,
    encode,
)

GET = b"GET /v1/identity?x=1 HTTP/1.1\r\nHost: edge\r\nAuthorization: BackendAI a\r\n\r\n"


def test_a_request_is_parsed_with_lower_case_header_names():
    [request] = RequestParser().feed(GET)
    assert (request.method, request.target) == ("GET", "/v1/identity?x=1")
    assert request.headers == {"host": "edge", "authorization": "BackendAI a"}
    assert request.keep_alive and request.body == b""


def test_pipelined_requests_and_requests_split_anywhere_come_out_whole():
    parser = RequestParser()
    assert len(parser.feed(GET + GET)) == 2
    data = GET + b"POST / HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\n\r\nabc"
    got = [r for i in range(len(data)) for r in parser.feed(data[i : i + 1])]
    assert [(r.method, r.body) for r in got] == [("GET", b""), ("POST", b"abc")]
    assert parser.error is None


def test_connection_close_and_http_1_0_end_the_connection():
    close = b"GET / HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n"
    assert not RequestParser().feed(close)[0].keep_alive
    assert not RequestParser().feed(b"GET / HTTP/1.0\r\n\r\n")[0].keep_alive


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /\r\n\r\n", 400),  # no version
        (b"GET http://a/ HTTP/1.1\r\nHost: e\r\n\r\n", 400),  # not origin-form
        (b"GET / HTTP/2.0\r\nHost: e\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: e\r\nX-A: 1\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : e\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: e\r\nX-A: a\x01b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: e\r\nHost: f\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: e\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: e\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: e\r\nContent-Length: 999999\r\n\r\n", 413),
    ],
)
def test_malformed_input_is_refused_and_nothing_after_it_is_read(data, status):
    parser = RequestParser()
    assert parser.feed(data) == []
    assert parser.error is not None and parser.error.status == status
    assert parser.feed(GET) == []


def test_oversized_heads_and_too_many_headers_are_refused():
    parser = RequestParser(max_head=100)
    parser.feed(b"GET / HTTP/1.1\r\nHost: e\r\nX-A: " + b"a" * 200)  # no end of head yet
    assert parser.error is not None and parser.error.status == 431
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(11))
    parser = RequestParser(max_headers=10)
    parser.feed(b"GET / HTTP/1.1\r\n" + many + b"\r\n")
    assert parser.error is not None and parser.error.status == 431


def test_a_header_value_that_would_split_the_response_is_never_written():
    with pytest.raises(ValueError):
        encode(Response(200, (("x-a", "1\r\nx-b: 2"),)), keep_alive=True)


def test_a_head_answer_has_the_length_but_not_the_body():
    answer = encode(Response(401, (), b"denied"), keep_alive=True, head=True)
    assert answer.endswith(b"content-length: 6\r\n\r\n")


@pytest.fixture
async def server() -> AsyncIterator[Http1Server]:
    async def handler(request: Request) -> Response:
        # A request for /slow answers after the one pipelined behind it is ready.
        if request.target == "/slow":
            await asyncio.sleep(0.05)
        return Response(200, (("x-target", request.target),), request.body)

    served = Http1Server(handler)
    await served.start("127.0.0.1", 0)
    yield served
    await served.stop()


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), 5)  # until the server closes
    finally:
        writer.close()


async def test_keep_alive_serves_many_requests_on_one_connection(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for target in ("/a", "/b"):
            writer.write(b"GET %s HTTP/1.1\r\nHost: e\r\n\r\n" % target.encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"x-target: " + target.encode() in head
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order(server):
    slow = b"GET /slow HTTP/1.1\r\nHost: e\r\n\r\n"
    fast = b"GET /fast HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n"
    answer = await _exchange(server.port, slow + fast)
    assert answer.index(b"x-target: /slow") < answer.index(b"x-target: /fast")
    assert answer.endswith(b"connection: close\r\n\r\n")


async def test_malformed_input_after_a_request_gets_its_answer_then_a_400(server):
    answer = await _exchange(server.port, b"GET /a HTTP/1.1\r\nHost: e\r\n\r\nGARBAGE\r\n\r\n")
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK") and b"x-target: /a" in first
    assert rest.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in rest
