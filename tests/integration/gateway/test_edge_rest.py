"""REST/JSON through the edge: transcoding, authz, Envoy's own replies, CORS."""

from __future__ import annotations

import pytest

from tests.integration.gateway.edge_harness import (
    ALLOWED_ORIGIN,
    AUTH_STORE_DOWN,
    ERROR_TRIGGER,
    GOOD_CREDENTIAL,
    INJECTED,
    INTERNAL_TOKEN,
)

GOOD = {"authorization": GOOD_CREDENTIAL}


async def test_get_identity_is_transcoded_to_snake_case_json(http, recorder):
    response = await http.get("/v1/identity", headers=GOOD)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "identity": {
            "user_id": "user-1",
            "access_key": "AKTEST",
            "role": "ROLE_ADMIN",
            "domain_name": "default",
            "project_ids": ["p1", "p2"],
            "email": "",  # zero values are printed (always_print_primitive_fields)
        }
    }
    assert recorder.only_call().method == "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"


async def test_authz_sees_the_request_as_the_client_signed_it(http, edge_addr, recorder):
    await http.get(
        "/v1/identity?owner_access_key=AK2&x=%2F",
        headers={**GOOD, "content-type": "text/plain", "x-backendai-version": "v7.20230615"},
    )

    (check,) = recorder.checks
    request = check.attributes.request.http
    # Before the transcoder: the REST method, the raw path with its query, the Host with its port.
    assert (request.method, request.path, request.host) == (
        "GET",
        "/v1/identity?owner_access_key=AK2&x=%2F",
        edge_addr,
    )
    assert request.headers["content-type"] == "text/plain"
    assert request.headers["x-backendai-version"] == "v7.20230615"
    assert request.headers[":authority"] == edge_addr
    assert check.attributes.source.address.socket_address.address == "127.0.0.1"


async def test_client_identity_headers_are_replaced_by_the_authz_ones(http, recorder):
    spoofed = dict.fromkeys((*INJECTED, "x-shipyard-email"), "spoofed")
    spoofed["x-shipyard-internal-token"] = "forged"

    await http.get("/v1/identity", headers={**GOOD, **spoofed})

    received = recorder.only_call().metadata
    assert {k: received.get(k) for k in INJECTED} == INJECTED
    assert "x-shipyard-email" not in received  # the authz did not set it, the client's is gone
    assert received["x-shipyard-internal-token"] == INTERNAL_TOKEN
    assert "authorization" not in received  # removed by the authz (headers_to_remove)


async def test_missing_credentials_get_401_with_the_authz_json_body(http, recorder):
    response = await http.get("/v1/identity", headers={"x-shipyard-user-id": "user-1"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": 16, "message": "missing or invalid credentials"}
    assert recorder.calls == []


async def test_authz_503_denial_keeps_its_own_body(http, recorder):
    response = await http.get("/v1/identity", headers={"authorization": AUTH_STORE_DOWN})

    assert response.status_code == 503
    assert response.json() == {"code": 14, "message": "credential store unavailable"}
    assert recorder.calls == []


@pytest.mark.parametrize("path", ["/nope", "/v2/identity", "/shipyard.auth.v1.Nope/Get"])
async def test_unknown_route_is_404_json(http, path, recorder):
    response = await http.get(path, headers=GOOD)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == 5
    assert response.json()["message"]
    assert recorder.calls == []


async def test_unmapped_v1_path_is_404_json_after_auth(http, recorder):
    response = await http.get("/v1/nothing-here", headers=GOOD)

    assert response.status_code == 404
    assert response.json() == {
        "code": 5,
        "message": "Could not resolve /v1/nothing-here to a method.",
    }
    assert recorder.calls == []


async def test_backend_error_becomes_http_status_with_rpc_status_json(http):
    response = await http.get("/v1/identity", headers={**GOOD, ERROR_TRIGGER: "not-found"})

    assert response.status_code == 404
    assert response.json() == {
        "code": 5,
        "message": "no such user",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "USER_NOT_FOUND",
                "domain": "auth",
                "metadata": {},
            }
        ],
    }


async def test_malformed_json_body_is_400_json(http, recorder):
    response = await http.post("/v1/sessions", headers=GOOD, content=b"{not json")

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == 3
    assert recorder.calls == []


async def test_cors_preflight_on_rest_path_for_allowed_origin(http, recorder):
    response = await http.options(
        "/v1/identity",
        headers={
            "origin": ALLOWED_ORIGIN,
            "access-control-request-method": "GET",
            "access-control-request-headers": "authorization, x-backendai-version",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "GET" in response.headers["access-control-allow-methods"]
    assert "x-backendai-version" in response.headers["access-control-allow-headers"]
    assert recorder.checks == []
    assert recorder.calls == []


async def test_cors_preflight_from_other_origin_is_not_allowed_nor_forwarded(http, recorder):
    response = await http.options(
        "/v1/identity",
        headers={"origin": "http://evil.test", "access-control-request-method": "GET"},
    )

    assert "access-control-allow-origin" not in response.headers
    assert recorder.calls == []


async def test_cors_headers_on_rest_response(http):
    response = await http.get("/v1/identity", headers={**GOOD, "origin": ALLOWED_ORIGIN})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "grpc-status" in response.headers["access-control-expose-headers"]
