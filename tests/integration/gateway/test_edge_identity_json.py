"""Envoy's transcoder prints GetCurrentIdentity's REST body byte for byte as auth renders it for
the edge to answer a signed `GET /v1/identity` with (services/auth/api/identity.py), for every
code point either printer might escape."""

from __future__ import annotations

import base64

import pytest

from libs.core.identity import Caller, Role
from services.auth.api.identity import identity_json, identity_response
from tests.integration.gateway.edge_harness import GOOD_CREDENTIAL, IDENTITY_ANSWER

pytestmark = pytest.mark.integration

# ASCII, the C1 controls, and around each range protobuf's printer escapes.
CODE_POINTS = (
    *range(0x01, 0xA1),
    *(0xAC, 0xAD, 0xAE, 0x5FF, 0x600, 0x603, 0x604, 0x6DC, 0x6DD, 0x6DE, 0x70E, 0x70F, 0x710),
    *(0x17B3, 0x17B4, 0x17B5, 0x17B6, 0x200A, 0x200B, 0x200F, 0x2010, 0x2027, 0x2028, 0x202E),
    *(0x202F, 0x205F, 0x2060, 0x2064, 0x2065, 0x2069, 0x206A, 0x206F, 0x2070, 0xD7FF, 0xE000),
    *(0xFEFE, 0xFEFF, 0xFF00, 0xFFF8, 0xFFF9, 0xFFFB, 0xFFFC, 0xFFFF, 0x10000, 0x1F600),
    *(0xE0000, 0xE0001, 0xE0002, 0xE001F, 0xE0020, 0xE007F, 0xE0080, 0x10FFFF),
)
CALLERS = [
    Caller(user_id="u-1", access_key="AK1", role=Role.SUPERADMIN, domain_name="default"),
    Caller(user_id="u-2", project_ids=("p1", "p2")),  # empty fields between set ones
    Caller(
        user_id="u-3",
        role=Role.MONITOR,
        domain_name='d"é\\m<a>&b',
        project_ids=tuple(chr(c) for c in CODE_POINTS),
        email="ü@例え.jp",
    ),
]


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.user_id)
async def test_the_transcoder_prints_what_auth_renders_for_the_edge(http, caller):
    answer = base64.b64encode(identity_response(caller).SerializeToString()).decode()
    reply = await http.get(
        "/v1/identity", headers={"authorization": GOOD_CREDENTIAL, IDENTITY_ANSWER: answer}
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert reply.content == identity_json(caller).encode()
