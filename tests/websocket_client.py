"""A minimal WebSocket client (RFC 6455) for tests: handshake, one text frame out, one in."""

from __future__ import annotations

import asyncio
import base64
import os
import struct


async def echo_once(
    host: str, port: int, path: str, message: str, headers: dict[str, str]
) -> tuple[int, str]:
    """(HTTP status of the handshake, the text of the first frame back, "" when not 101)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade"]
        lines += [f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status = int(head.split(" ", 2)[1])
        if status != 101:
            return status, ""
        data = message.encode()
        mask = os.urandom(4)
        assert len(data) < 126
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        writer.write(bytes([0x81, 0x80 | len(data)]) + mask + masked)
        await writer.drain()
        _, b1 = await reader.readexactly(2)
        size = b1 & 0x7F
        if size == 126:
            (size,) = struct.unpack(">H", await reader.readexactly(2))
        return status, (await reader.readexactly(size)).decode()
    finally:
        writer.close()
