"""Load generators for bench.paths: h2load (fixed request) and curl (one request per transfer).

h2load sends the same headers and body on every request, which suits straight gRPC calls and
bearer tokens. A keypair signature is single-use (the replay cache refuses a second use), and
h2load cannot vary headers per request, so signed load goes through curl's parallel mode
instead: one pre-signed transfer per request from a config file (libcurl is C, like h2load).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    ok: int
    seconds: float
    codes: dict[str, int] = field(default_factory=dict)  # HTTP status -> calls (curl only)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def grpc_frame(message: bytes) -> bytes:
    """One length-prefixed, uncompressed gRPC message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


async def h2load(
    url: str,
    *,
    headers: Headers,
    count: int,
    clients: int = 4,
    streams: int = 8,
    body: bytes | None = None,
    expect_data: int = 0,
) -> LoadResult:
    """`count` requests with `clients` connections x `streams` concurrent streams each.

    A call counts as successful when its status is 2xx; for gRPC (where a refusal is also HTTP
    200) `expect_data` is the DATA bytes one successful reply carries, checked in total.
    """
    with tempfile.NamedTemporaryFile(suffix=".body") as data:
        argv = ["h2load", "-n", str(count), "-c", str(clients), "-m", str(streams)]
        if body is not None:
            data.write(body)
            data.flush()
            argv += ["-d", data.name]
        for key, value in headers:
            argv += ["-H", f"{key}: {value}"]
        argv.append(url)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await proc.communicate()
    text = out.decode()
    finished = re.search(r"finished in ([\d.]+)(m?s)", text)
    codes = re.search(r"status codes: (\d+) 2xx", text)
    traffic = re.search(r"traffic: .*?data ([\d.]+)(\w*)B?", text)
    if finished is None or codes is None:
        raise RuntimeError(f"h2load failed:\n{text}")
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    ok = int(codes.group(1))
    if expect_data and traffic is not None:
        got = _bytes(traffic.group(1), traffic.group(2))
        if got < expect_data * ok * 0.99:  # refused gRPC calls carry no DATA frame
            raise RuntimeError(f"h2load: {got} data bytes for {ok} calls; refused?\n{text}")
    return LoadResult(requests=count, ok=ok, seconds=seconds)


def _bytes(value: str, unit: str) -> float:
    scale = {"": 1, "K": 1024, "Ki": 1024, "M": 1024**2, "Mi": 1024**2, "G": 1024**3}
    return float(value) * scale.get(unit.rstrip("B"), 1)


async def curl_parallel(
    url: str,
    requests: list[Headers],
    *,
    concurrency: int = 32,
) -> LoadResult:
    """One GET per element of `requests` (its own headers) over `concurrency` keep-alive
    HTTP/1.1 connections. (This curl's HTTP/2 multiplexing over h2c breaks in parallel mode with
    "Error in the HTTP2 framing layer", so REST is loaded over HTTP/1.1.) OK = HTTP 2xx."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "transfers.conf"
        lines: list[str] = []
        for i, headers in enumerate(requests):
            if i:
                lines.append("next")
            lines += [f'url = "{url}"', "http1.1", 'output = "/dev/null"']
            lines.append('write-out = "%{http_code}\\n"')
            lines += [f'header = "{k}: {v}"' for k, v in headers]
        config.write_text("\n".join(lines) + "\n")
        loop = asyncio.get_running_loop()
        started = loop.time()
        proc = await asyncio.create_subprocess_exec(
            "curl", "--silent", "--parallel", "--parallel-max", str(concurrency),
            "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await proc.communicate()
        seconds = loop.time() - started
    codes = Counter(line.strip() for line in out.decode().splitlines())
    ok = sum(n for code, n in codes.items() if code.startswith("2"))
    return LoadResult(requests=len(requests), ok=ok, seconds=seconds, codes=dict(codes))


async def curl_sequential(
    url: str, requests: list[Headers], body: str, *, per_second: int = 0
) -> list[float]:
    """One POST of `body` (JSON) per element of `requests` (its own headers), one after another
    on one keep-alive connection (at most `per_second` started each second); each transfer's
    total time in ms. Refuses any reply but HTTP 2xx."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "transfers.conf"
        payload = Path(tmp) / "body.json"
        payload.write_text(body)
        lines: list[str] = []
        for i, headers in enumerate(requests):
            if i:
                lines.append("next")
            lines += [f'url = "{url}"', "http1.1", 'output = "/dev/null"']
            lines += [f'data-binary = "@{payload}"', 'header = "content-type: application/json"']
            lines.append('write-out = "%{http_code} %{time_total}\\n"')
            lines += [f'header = "{k}: {v}"' for k, v in headers]
        config.write_text("\n".join(lines) + "\n")
        rate = ["--rate", f"{per_second}/s"] if per_second else []
        proc = await asyncio.create_subprocess_exec(
            "curl", "--silent", *rate, "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await proc.communicate()
    took: list[float] = []
    for line in out.decode().splitlines():
        code, seconds = line.split()
        if not code.startswith("2"):
            raise RuntimeError(f"curl: HTTP {code} from {url}")
        took.append(float(seconds) * 1000)
    return took
