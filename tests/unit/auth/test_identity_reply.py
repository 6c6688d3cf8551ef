"""The Check of a signed REST GetCurrentIdentity carries the RPC's REST body for the edge to
answer with (libs/core/identity_reply.py); no other Check does."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from google.api import annotations_pb2
from google.protobuf import json_format
from shipyard.auth.v1 import identity_service_pb2 as pb

from libs.core.identity import Caller, Role
from libs.core.identity_reply import (
    HEADER_IDENTITY_REPLY,
    IDENTITY_METHOD,
    IDENTITY_PATH,
    encode_reply,
)
from libs.grpcutil.context import set_caller
from services.auth.api.check_outcome import Allow, allow
from services.auth.api.ext_authz_http import http_response
from services.auth.api.identity import identity_json
from services.auth.api.servicer import IdentityServicer
from tests.unit.auth.factories import ACCESS_KEY, PROJECT_ID, USER_ID, signed_facts
from tests.unit.auth.test_ext_authz import check_request, servicer


def _reply(response) -> str | None:
    headers = {h.header.key: h.header.value for h in response.ok_response.headers}
    return headers.get(HEADER_IDENTITY_REPLY)


async def test_a_signed_rest_identity_check_carries_the_rpcs_rest_body():
    response = await servicer().Check(check_request(signed_facts()), None)
    value = _reply(response)
    assert value is not None
    assert json.loads(unquote(value)) == {
        "identity": {
            "user_id": USER_ID,
            "access_key": ACCESS_KEY,
            "role": "ROLE_USER",
            "domain_name": "default",
            "project_ids": [PROJECT_ID],
            "email": "user@example.com",
        }
    }
    # Its query is the client's business: the transcoder ignores unknown parameters.
    with_query = await servicer().Check(check_request(signed_facts(path="/v1/identity?x=1")), None)
    assert _reply(with_query) == value


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", "/v1/identity", "application/json"),
        ("GET", "/v1/identity/x", "application/json"),
        ("GET", "/v1/sessions", "application/json"),
        ("POST", "/shipyard.auth.v1.IdentityService/GetCurrentIdentity", "application/grpc"),
        ("GET", "/v1/identity", "application/grpc"),
    ],
)
async def test_no_other_check_carries_it(method, path, content_type):
    facts = signed_facts(method=method, path=path, content_type=content_type)
    response = await servicer().Check(check_request(facts), None)
    assert response.WhichOneof("http_response") == "ok_response"
    assert _reply(response) is None


async def test_the_http_check_sends_it_to_envoy_too():
    caller = Caller(user_id="u1", access_key="AK1")
    outcome = allow(caller, answer_identity=True)
    headers = dict(http_response(outcome).headers)
    assert unquote(headers[HEADER_IDENTITY_REPLY]) == identity_json(caller)


def test_a_body_too_large_for_a_header_is_left_to_the_rpc():
    many = tuple(f"{i:08d}-0000-0000-0000-000000000000" for i in range(300))
    some = allow(Caller(user_id="u1", project_ids=many[:100]), answer_identity=True)
    assert isinstance(some, Allow)
    assert HEADER_IDENTITY_REPLY in dict(some.upstream_headers)
    hundreds = allow(Caller(user_id="u1", project_ids=many), answer_identity=True)
    assert isinstance(hundreds, Allow)
    headers = dict(hundreds.upstream_headers)
    assert HEADER_IDENTITY_REPLY not in headers  # the edge passes it on to GetCurrentIdentity
    assert headers["x-shipyard-project-ids"] == ",".join(many)


@pytest.mark.parametrize(
    "caller",
    [
        Caller(user_id="u1", access_key="AK1", role=Role.ADMIN, domain_name="d", email="a@b.c"),
        Caller(user_id="u2", project_ids=("p1", "p2")),  # empty fields between set ones
        Caller(user_id="u3", domain_name='dé"m%\\x\n', email="ü@例え.jp"),
    ],
)
async def test_the_body_is_the_rpcs_answer_in_the_transcoders_json(caller):
    set_caller(caller)
    answer = await IdentityServicer().GetCurrentIdentity(pb.GetCurrentIdentityRequest(), None)
    expected = json_format.MessageToDict(
        answer, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
    body = identity_json(caller)
    assert json.loads(body) == expected
    # Compact, and fields in field-number order, as Envoy's transcoder prints them.
    assert list(json.loads(body)["identity"]) == [f.name for f in answer.identity.DESCRIPTOR.fields]
    encoded = encode_reply(body)
    assert all(0x20 <= ord(c) < 0x7F for c in encoded)  # any identity value is header-safe
    assert unquote(encoded) == body


def test_the_identity_route_is_the_rpcs_rest_rule():
    method = pb.DESCRIPTOR.services_by_name["IdentityService"].methods_by_name["GetCurrentIdentity"]
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    assert getattr(rule, IDENTITY_METHOD.lower()) == IDENTITY_PATH
