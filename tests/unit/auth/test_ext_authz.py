"""The ext_authz Check servicer, called directly (no sockets) with the vendored messages."""

from __future__ import annotations

import json

from envoy_ext_authz.v3 import external_auth_pb2 as authz

from libs.core.identity import (
    HEADER_ACCESS_KEY,
    HEADER_DOMAIN,
    HEADER_EMAIL,
    HEADER_PROJECT_IDS,
    HEADER_ROLE,
    HEADER_USER_ID,
)
from services.auth.api.ext_authz import AuthorizationServicer
from services.auth.service.verify import RequestFacts, RequestVerifier
from tests.unit.auth.factories import (
    ACCESS_KEY,
    DATE,
    PROJECT_ID,
    USER_ID,
    FakeKeypairStore,
    FakeUsageRecorder,
    FixedClock,
    owner,
    signed_facts,
)

OVERWRITE = authz.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def servicer(store=None) -> AuthorizationServicer:
    verifier = RequestVerifier(
        keypairs=store or FakeKeypairStore(owner()),
        usage=FakeUsageRecorder(),
        clock=FixedClock(DATE),
    )
    return AuthorizationServicer(verifier)


def check_request(facts: RequestFacts) -> authz.CheckRequest:
    http = authz.AttributeContext.HttpRequest(
        method=facts.method, path=facts.path, host=facts.host, headers=dict(facts.headers)
    )
    return authz.CheckRequest(
        attributes=authz.AttributeContext(request=authz.AttributeContext.Request(http=http))
    )


async def test_signed_request_is_allowed_with_identity_headers():
    facts = signed_facts(
        method="POST",
        path="/shipyard.auth.v1.IdentityService/GetCurrentIdentity",
        content_type="application/grpc",
    )
    response = await servicer().Check(check_request(facts), None)
    assert response.status.code == 0
    assert response.WhichOneof("http_response") == "ok_response"
    headers = {h.header.key: h.header.value for h in response.ok_response.headers}
    assert headers == {
        HEADER_USER_ID: USER_ID,
        HEADER_ACCESS_KEY: ACCESS_KEY,
        HEADER_ROLE: "user",
        HEADER_DOMAIN: "default",
        HEADER_PROJECT_IDS: PROJECT_ID,
        HEADER_EMAIL: "user@example.com",
    }
    assert {h.append_action for h in response.ok_response.headers} == {OVERWRITE}
    assert list(response.ok_response.headers_to_remove) == ["authorization"]


async def test_empty_identity_values_are_removed_not_set():
    response = await servicer(FakeKeypairStore(owner(project_ids=()))).Check(
        check_request(signed_facts()), None
    )
    keys = {h.header.key for h in response.ok_response.headers}
    assert HEADER_PROJECT_IDS not in keys
    assert HEADER_PROJECT_IDS in response.ok_response.headers_to_remove


async def test_bad_signature_is_denied_with_401_json():
    response = await servicer().Check(check_request(signed_facts(secret_key="q" * 40)), None)
    assert response.status.code == 16
    denied = response.denied_response
    assert denied.status.code == 401
    assert [(h.header.key, h.header.value) for h in denied.headers] == [
        ("content-type", "application/json")
    ]
    assert json.loads(denied.body) == {
        "code": 16,
        "message": "signature mismatch",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "INVALID_SIGNATURE",
                "domain": "auth.shipyard",
            }
        ],
    }


async def test_request_without_credentials_is_denied():
    facts = RequestFacts(method="GET", path="/v1/identity", host="h", headers={})
    response = await servicer().Check(check_request(facts), None)
    assert response.denied_response.status.code == 401
    assert json.loads(response.denied_response.body)["details"][0]["reason"] == (
        "MISSING_CREDENTIALS"
    )


class BrokenStore:
    async def find(self, access_key):
        raise ConnectionError("database down")


async def test_internal_failure_is_denied_with_503_never_allowed():
    response = await servicer(BrokenStore()).Check(check_request(signed_facts()), None)
    assert response.status.code == 14
    assert response.WhichOneof("http_response") == "denied_response"
    assert response.denied_response.status.code == 503
    body = json.loads(response.denied_response.body)
    assert body["code"] == 14
    assert "database" not in body["message"]
