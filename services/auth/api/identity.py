"""GetCurrentIdentity's answer, one definition for the RPC (api/servicer.py) and for the REST
body the edge answers a signed `GET /v1/identity` with (libs/core/identity_reply.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from shipyard.auth.v1 import identity_service_pb2 as pb
from shipyard.type.v1 import identity_pb2

from libs.core.identity import Caller, Role

_ROLES = {
    Role.USER: identity_pb2.ROLE_USER,
    Role.ADMIN: identity_pb2.ROLE_ADMIN,
    Role.SUPERADMIN: identity_pb2.ROLE_SUPERADMIN,
    Role.MONITOR: identity_pb2.ROLE_MONITOR,
}


def identity_to_pb(caller: Caller) -> identity_pb2.Identity:
    return identity_pb2.Identity(
        user_id=caller.user_id,
        access_key=caller.access_key,
        role=_ROLES[caller.role],
        domain_name=caller.domain_name,
        project_ids=list(caller.project_ids),
        email=caller.email,
    )


def identity_response(caller: Caller) -> pb.GetCurrentIdentityResponse:
    return pb.GetCurrentIdentityResponse(identity=identity_to_pb(caller))


def identity_json(caller: Caller) -> str:
    """The body Envoy's transcoder gives for identity_response(caller), byte for byte: its
    print options (gateway/http_filters.py: every field, proto field names), compact, fields
    in field-number order and the escapes of protobuf's C++ printer, other text as UTF-8."""
    message = identity_response(caller)
    fields = json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
    ordered = _in_field_order(fields, message)
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)
    return _ESCAPED.sub(_escape, text)


# What protobuf's C++ printer escapes beyond JSON's own (json.dumps does those alike): angle
# brackets and invisible or layout-changing code points. Compared with Envoy's output for each
# code point in tests/integration/gateway/test_edge_identity_json.py.
_ESCAPED = re.compile(
    "[<>\x7f-\x9f\xad\u0600-\u0603\u06dd\u070f\u17b4\u17b5\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb"
    "\U000e0001\U000e0020-\U000e007f]"
)


def _escape(match: re.Match[str]) -> str:
    # A code point beyond the BMP as its UTF-16 surrogate pair, as JSON spells it.
    units = match[0].encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


def _in_field_order(fields: dict[str, Any], message: Message) -> dict[str, Any]:
    # json_format appends the default-valued fields after the set ones.
    ordered: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.name not in fields:
            continue
        value = fields[field.name]
        if field.message_type is not None and not field.is_repeated and isinstance(value, dict):
            value = _in_field_order(value, getattr(message, field.name))
        ordered[field.name] = value
    return ordered
