"""Per-request cost of the ext_authz messages in auth's Check: decode the CheckRequest Envoy sends
and encode the allowing CheckResponse, with the wire-compatible subset compiled by protoc
(third_party/envoy_ext_authz, upb) and with envoy-data-plane's betterproto2 classes.

    .venv/bin/python -m bench.ext_authz_decode [--iterations 20000] [--repeats 5]

Prints µs per operation (best of the repeats); the choice is recorded in docs/decisions.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from envoy_data_plane.envoy.config.core.v3 import HeaderValue, HeaderValueOption
from envoy_data_plane.envoy.config.core.v3 import (
    HeaderValueOptionHeaderAppendAction as AppendAction,
)
from envoy_data_plane.envoy.service.auth.v3 import CheckRequest, CheckResponse, OkHttpResponse
from envoy_data_plane.google.rpc import Status
from envoy_ext_authz.v3 import external_auth_pb2 as subset

# A keypair-signed REST call as Envoy reports it (the headers auth reads, and the usual rest).
HEADERS = {
    ":authority": "127.0.0.1:8090",
    ":method": "GET",
    ":path": "/v1/sessions?limit=20",
    ":scheme": "http",
    "authorization": "BackendAI signMethod=HMAC-SHA256, credential=AKIAIOSFODNN7EXAMPLE:"
    "3b1c9a2f0e5d4c6b8a7f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b",
    "content-type": "application/json",
    "date": "2026-11-29T10:00:00+00:00",
    "x-backendai-date": "2026-11-29T10:00:00+00:00",
    "x-backendai-version": "v4.20190615",
    "user-agent": "python-httpx/0.28.1",
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "x-forwarded-proto": "http",
    "x-request-id": "0b0c6a9e-5f4a-4e8e-9a57-1c9b1f7a2d33",
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
}
INJECTED = {
    "x-shipyard-user-id": "00000000-0000-0000-0000-000000000001",
    "x-shipyard-access-key": "AKIAIOSFODNN7EXAMPLE",
    "x-shipyard-role": "user",
    "x-shipyard-domain": "default",
    "x-shipyard-project-ids": "",
    "x-shipyard-email": "bench@example.com",
}


def _wire_request() -> bytes:
    http = subset.AttributeContext.HttpRequest(
        id="1234567890", method="GET", headers=HEADERS, path="/v1/sessions?limit=20",
        host="127.0.0.1:8090", scheme="http", protocol="HTTP/1.1", size=0,
    )  # fmt: skip
    source = subset.AttributeContext.Peer(
        address=subset.AttributeContext.Address(
            socket_address=subset.AttributeContext.SocketAddress(
                address="127.0.0.1", port_value=50122
            )
        )
    )
    attrs = subset.AttributeContext(
        source=source, request=subset.AttributeContext.Request(http=http)
    )
    return subset.CheckRequest(attributes=attrs).SerializeToString()


def decode_subset(data: bytes) -> str:
    request = subset.CheckRequest.FromString(data)
    http = request.attributes.request.http
    return http.headers["authorization"] + http.method + http.path


def decode_typed(data: bytes) -> str:
    request = CheckRequest.parse(data)
    assert request.attributes is not None and request.attributes.request is not None
    http = request.attributes.request.http
    assert http is not None
    return http.headers["authorization"] + http.method + http.path


def encode_subset() -> bytes:
    overwrite = subset.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    ok = subset.OkHttpResponse(
        headers=[
            subset.HeaderValueOption(
                header=subset.HeaderValue(key=k, value=v), append_action=overwrite
            )
            for k, v in INJECTED.items()
        ],
        headers_to_remove=["authorization"],
    )
    return subset.CheckResponse(ok_response=ok).SerializeToString()


def encode_typed() -> bytes:
    overwrite = AppendAction.OVERWRITE_IF_EXISTS_OR_ADD
    ok = OkHttpResponse(
        headers=[
            HeaderValueOption(header=HeaderValue(key=k, value=v), append_action=overwrite)
            for k, v in INJECTED.items()
        ],
        headers_to_remove=["authorization"],
    )
    return bytes(CheckResponse(status=Status(code=0), ok_response=ok))


def _best_us(op: Callable[[], object], iterations: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            op()
        best = min(best, (time.perf_counter() - start) / iterations)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = _wire_request()
    assert decode_subset(data) == decode_typed(data)  # same wire, same answer
    assert subset.CheckResponse.FromString(encode_typed()).ok_response.headers[0].header.key
    rows = [
        ("decode CheckRequest", lambda: decode_subset(data), lambda: decode_typed(data)),
        ("encode CheckResponse (allow)", encode_subset, encode_typed),
    ]
    print(f"CheckRequest: {len(data)} bytes, {len(HEADERS)} headers; best of {args.repeats}")
    print(f"{'operation':32} {'subset (upb) µs':>16} {'envoy-data-plane µs':>20} {'ratio':>7}")
    for name, fast, typed in rows:
        a = _best_us(fast, args.iterations, args.repeats)
        b = _best_us(typed, args.iterations // 4 or 1, args.repeats)
        print(f"{name:32} {a:16.2f} {b:20.2f} {b / a:6.1f}x")


if __name__ == "__main__":
    main()
