"""The built-in `echo` app: a page served at `/` whose WebSocket (`/ws`) echoes every message.

Stdlib only (python >= 3.8), like the runner: the agent sends this file's text to the runner,
which runs it as `python3 -I -c <text>` inside the kernel with $PORT set. It assumes it lives at `/`
(absolute links, a WebSocket on the page's own host), as most notebook apps do.
"""

import asyncio
import base64
import hashlib
import os
import struct
import sys

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
_MAX_FRAME = 1 << 20
PAGE = b"""<!doctype html>
<html><head><title>shipyard echo</title></head>
<body>
<h1 id="title">shipyard echo app</h1>
<p>WebSocket: <span id="state">connecting</span></p>
<pre id="echo"></pre>
<script>
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const ws = new WebSocket(scheme + location.host + "/ws");
ws.onopen = () => {
  document.getElementById("state").textContent = "open";
  ws.send("hello from the browser");
};
ws.onmessage = (e) => { document.getElementById("echo").textContent += e.data + "\\n"; };
ws.onclose = () => { document.getElementById("state").textContent = "closed"; };
</script>
</body></html>
"""


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            path = parts[1].split("?")[0] if len(parts) > 1 else "/"
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("upgrade", "").lower() == "websocket" and path == "/ws":
                await _websocket(reader, writer, headers.get("sec-websocket-key", ""))
                return
            if path == "/":
                _reply(writer, b"200 OK", b"text/html; charset=utf-8", PAGE)
            elif path == "/health":
                _reply(writer, b"200 OK", b"text/plain", b"ok\n")
            else:
                _reply(writer, b"404 Not Found", b"text/plain", b"not found\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


def _reply(writer: asyncio.StreamWriter, status: bytes, mime: bytes, body: bytes) -> None:
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + mime)
    writer.write(b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def _websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str) -> None:
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    await writer.drain()
    while True:
        b0, b1 = await reader.readexactly(2)
        opcode, size = b0 & 0x0F, b1 & 0x7F
        if size == 126:
            (size,) = struct.unpack(">H", await reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack(">Q", await reader.readexactly(8))
        if size > _MAX_FRAME:
            return
        mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(await reader.readexactly(size)))
        if opcode == 0x8:  # close: answer it and stop
            writer.write(_frame(0x8, data[:2]))
            await writer.drain()
            return
        if opcode == 0x9:  # ping
            writer.write(_frame(0xA, data))
        elif opcode in (0x1, 0x2):
            writer.write(_frame(opcode, data))
        await writer.drain()


def _frame(opcode: int, data: bytes) -> bytes:
    """One unmasked, unfragmented server frame."""
    if len(data) < 126:
        return bytes([0x80 | opcode, len(data)]) + data
    if len(data) < 1 << 16:
        return bytes([0x80 | opcode, 126]) + struct.pack(">H", len(data)) + data
    return bytes([0x80 | opcode, 127]) + struct.pack(">Q", len(data)) + data


async def _main(port: int) -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    # The port: the first argument, else $PORT (the runner sets it for apps it starts).
    asyncio.run(_main(int(sys.argv[1] if len(sys.argv) > 1 else os.environ["PORT"])))
