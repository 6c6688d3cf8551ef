"""Messages to and from the browser's forms: path and query parameters, proto3 JSON, and
gRPC statuses as HTTP statuses (docs/streaming.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

LAST_EVENT_ID = "last_event_id"


class BadRequest(ValueError):
    """The browser's input does not make a request message; the message names the field."""


def build_request(
    message_type: type[Message],
    params: Iterable[tuple[str, str]],
    *,
    last_event_id: str | None = None,
) -> Message:
    """A request from path variables and query parameters (`a.b=1`, repeated keys for lists),
    as the transcoder fills them; unknown parameters are ignored. `Last-Event-ID` fills a
    `last_event_id` field when the message has one."""
    descriptor = cast(Descriptor, message_type.DESCRIPTOR)  # the C and Python types differ
    tree: dict[str, Any] = {}
    for name, value in params:
        field = _field(descriptor, name)
        if field is None:
            continue
        _put(tree, name.split("."), field, value)
    if last_event_id is not None and LAST_EVENT_ID in descriptor.fields_by_name:
        tree[LAST_EVENT_ID] = last_event_id
    message = message_type()
    try:
        json_format.ParseDict(tree, message)
    except json_format.ParseError as exc:
        raise BadRequest(str(exc)) from exc
    return message


def _field(descriptor: Descriptor, dotted: str) -> FieldDescriptor | None:
    """The field a dotted query parameter names (None for an unknown one)."""
    within: Descriptor | None = descriptor
    field: FieldDescriptor | None = None
    for part in dotted.split("."):
        if within is None:
            return None
        field = within.fields_by_name.get(part)
        if field is None:
            return None
        within = field.message_type
    return field


def _put(tree: dict[str, Any], path: list[str], field: FieldDescriptor, raw: str) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    value: Any = raw
    if field.type == FieldDescriptor.TYPE_BOOL:
        if raw not in ("true", "false", "1", "0"):
            raise BadRequest(f"{'.'.join(path)}: expected true or false, got {raw!r}")
        value = raw in ("true", "1")
    if field.is_repeated:
        tree.setdefault(path[-1], []).append(value)
    else:
        tree[path[-1]] = value


def parse_json(message_type: type[Message], text: str) -> Message:
    message = message_type()
    try:
        json_format.Parse(text, message)
    except json_format.ParseError as exc:
        raise BadRequest(str(exc)) from exc
    return message


def to_json(message: Message) -> str:
    """proto3 JSON on one line, with the field names and defaults the transcoder prints."""
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return json.dumps(data, separators=(",", ":"))


def text_field(message: Message, name: str) -> str:
    """A string field's value ("" when the message has no such field)."""
    if name not in message.DESCRIPTOR.fields_by_name:
        return ""
    return str(getattr(message, name))


_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status(code: grpc.StatusCode) -> int:
    return _HTTP_STATUS.get(code, 500)


def error_body(code: grpc.StatusCode, message: str) -> str:
    """The JSON error the transcoder answers with: {"code": <gRPC code>, "message": ...}."""
    return json.dumps({"code": code.value[0], "message": message})


def close_code(code: grpc.StatusCode) -> int:
    """The WebSocket close code for a stream that ended with `code`: 1000 for OK, else
    4000 + the gRPC code (the application range of RFC 6455)."""
    return 1000 if code == grpc.StatusCode.OK else 4000 + int(code.value[0])
