"""Which streaming RPCs the bridge serves, found in the descriptor set the edge already uses.

A server-streaming RPC with a `google.api.http` `get:` rule is served as SSE, a bidirectional
one as a WebSocket (docs/streaming.md). Path templates are matched here and, as the same regular
expression, by Envoy's route (RE2 and Python agree on the subset used).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(?:=([^}]*))?\}")


class Kind(StrEnum):
    SSE = "sse"
    WEBSOCKET = "websocket"


@dataclass(frozen=True, slots=True)
class BridgeRoute:
    """One streaming RPC as the bridge serves it."""

    kind: Kind
    grpc_path: str  # /pkg.Service/Method
    service: str  # pkg.Service
    template: str  # the get: pattern, e.g. /v1/sessions/{session_id}/terminal
    regex: str  # anchored; Envoy matches the same expression
    fields: tuple[str, ...]  # the request field each path variable fills, in order
    request: type[Message]
    response: type[Message]

    def match(self, path: str) -> dict[str, str] | None:
        """The path variables, or None when `path` is not this route's."""
        found = re.fullmatch(self.regex, path)
        if found is None:
            return None
        return dict(zip(self.fields, found.groups(), strict=True))


def template_regex(template: str) -> tuple[str, tuple[str, ...]]:
    """An anchored regex for a google.api.http path template, and its variables' field paths.
    `{f}` and `{f=*}` match one segment, `{f=**}` the rest of the path; a `:verb` is literal."""
    parts: list[str] = []
    fields: list[str] = []
    pos = 0
    for var in _VARIABLE.finditer(template):
        parts.append(re.escape(template[pos : var.start()]))
        fields.append(var.group(1))
        parts.append("(.+)" if var.group(2) == "**" else "([^/]+)")
        pos = var.end()
    parts.append(re.escape(template[pos:]))
    # re.escape leaves "/" alone and escapes ":" and "-", which RE2 accepts too.
    return "^" + "".join(parts) + "$", tuple(fields)


def discover(descriptor_set: Path, services: set[str]) -> list[BridgeRoute]:
    """The bridged RPCs of `services`; client-streaming-only RPCs are left to the transcoder."""
    try:
        fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    except (OSError, DecodeError):
        return []
    pool = descriptor_pool.DescriptorPool()
    for file in fds.file:
        pool.Add(file)
    found: list[BridgeRoute] = []
    for file in fds.file:
        for svc in file.service:
            name = f"{file.package}.{svc.name}"
            if name not in services:
                continue
            for rpc in svc.method:
                template = rpc.options.Extensions[annotations_pb2.http].get
                if not template or not rpc.server_streaming:
                    continue
                kind = Kind.WEBSOCKET if rpc.client_streaming else Kind.SSE
                regex, fields = template_regex(template)
                found.append(
                    BridgeRoute(
                        kind=kind,
                        grpc_path=f"/{name}/{rpc.name}",
                        service=name,
                        template=template,
                        regex=regex,
                        fields=fields,
                        request=_message(pool, rpc.input_type),
                        response=_message(pool, rpc.output_type),
                    )
                )
    return found


def _message(pool: descriptor_pool.DescriptorPool, type_name: str) -> type[Message]:
    descriptor: Descriptor = pool.FindMessageTypeByName(type_name.lstrip("."))
    return message_factory.GetMessageClass(descriptor)
