"""GetCurrentIdentity's answer, one definition for the RPC (api/servicer.py) and for the REST
body the edge answers a signed `GET /v1/identity` with (libs/core/identity_reply.py)."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
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
    in field-number order as protobuf's C++ printer writes them, UTF-8 unescaped."""
    message = identity_response(caller)
    fields = json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
    ordered = _in_field_order(fields, message.DESCRIPTOR)
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def _in_field_order(fields: dict[str, Any], descriptor: Descriptor) -> dict[str, Any]:
    # json_format appends the default-valued fields after the set ones.
    ordered: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.name not in fields:
            continue
        value = fields[field.name]
        singular_message = field.message_type is not None and not field.is_repeated
        if singular_message and isinstance(value, dict):
            value = _in_field_order(value, field.message_type)
        ordered[field.name] = value
    return ordered
