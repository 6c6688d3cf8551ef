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
from services.auth.service.admission import SignedRequestAdmission
from services.auth.service.verify import RequestFacts, RequestVerifier
from tests.unit.auth.factories import (
    ACCESS_KEY,
    DATE,
    PROJECT_ID,
    USER_ID,
    FakeKeypairStore,
    FakeRequestGate,
    FakeUsageRecorder,
    FixedClock,
    owner,
    signed_facts,
)

OVERWRITE = authz.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def servicer(store=None, gate=None) -> AuthorizationServicer:
    verifier = RequestVerifier(
        keypairs=store or FakeKeypairStore(owner()),
        usage=FakeUsageRecorder(),
        clock=FixedClock(DATE),
    )
    admission = SignedRequestAdmission(
        verifier=verifier,
        gate=gate or FakeRequestGate(),
        clock=FixedClock(DATE),
    )
    return AuthorizationServicer(admission)


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


def rate_headers(options) -> dict[str, str]:
    return {
        h.header.key: h.header.value for h in options if h.header.key.startswith("x-ratelimit-")
    }


async def test_allowed_response_reports_the_rate_limit_to_the_client():
    store = FakeKeypairStore(owner(rate_limit=5))
    response = await servicer(store).Check(check_request(signed_facts()), None)
    assert rate_headers(response.ok_response.response_headers_to_add) == {
        "x-ratelimit-limit": "5",
        "x-ratelimit-remaining": "4",
        "x-ratelimit-window": "900",
    }


async def test_the_keypairs_own_rate_limit_is_counted_against():
    gate = FakeRequestGate()
    store = FakeKeypairStore(owner(rate_limit=7))
    response = await servicer(store, gate).Check(check_request(signed_facts()), None)
    assert rate_headers(response.ok_response.response_headers_to_add)["x-ratelimit-limit"] == "7"
    assert gate.calls[0]["limit"] == 7


async def test_request_over_the_limit_gets_429_json_with_rate_headers():
    authz_servicer = servicer(FakeKeypairStore(owner(rate_limit=1)))
    first = await authz_servicer.Check(check_request(signed_facts(path="/v1/identity?a=1")), None)
    assert first.status.code == 0
    second = await authz_servicer.Check(check_request(signed_facts(path="/v1/identity?a=2")), None)
    denied = second.denied_response
    assert denied.status.code == 429
    assert second.status.code == 8
    body = json.loads(denied.body)
    assert body["code"] == 8
    assert body["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert rate_headers(denied.headers) == {
        "x-ratelimit-limit": "1",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-window": "900",
    }


async def test_second_use_of_a_signature_is_denied_as_replayed():
    authz_servicer = servicer()
    request = check_request(signed_facts())
    assert (await authz_servicer.Check(request, None)).status.code == 0
    replayed = await authz_servicer.Check(request, None)
    assert replayed.denied_response.status.code == 401
    assert json.loads(replayed.denied_response.body)["details"][0]["reason"] == (
        "REPLAYED_SIGNATURE"
    )


async def test_replay_entry_lives_as_long_as_the_signature_is_accepted():
    gate = FakeRequestGate()
    await servicer(gate=gate).Check(check_request(signed_facts()), None)
    # Date == now: the signature stays valid for the whole 15-minute window (+1 s margin).
    assert gate.calls[0]["replay_ttl"] == 15 * 60 + 1


async def test_bad_signature_spends_no_quota():
    gate = FakeRequestGate()
    await servicer(gate=gate).Check(check_request(signed_facts(secret_key="q" * 40)), None)
    assert gate.calls == []
