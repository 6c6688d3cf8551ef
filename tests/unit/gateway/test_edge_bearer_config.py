"""The bootstrap's bearer-token, public-route and TLS parts, checked as data (no Envoy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.bearer import JWT_AUTHN, LOCAL_RATELIMIT
from tests.unit.gateway.test_edge_bootstrap import (
    EXT_AUTHZ,
    bootstrap_json,
    filters,
    hcm,
    settings,
    vhost,
)

JWKS = json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k", "x": "x", "y": "y"}]})


@pytest.fixture
def jwks(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(JWKS)
    return path


def test_without_a_jwks_there_is_no_bearer_filter():
    names = [f["name"] for f in hcm(bootstrap_json(settings()))["http_filters"]]
    assert JWT_AUTHN not in names and LOCAL_RATELIMIT not in names
    assert "filter_enabled_metadata" not in filters(bootstrap_json(settings()))[EXT_AUTHZ]


def test_bearer_filters_run_after_the_header_strip_and_before_ext_authz(jwks):
    names = [f["name"] for f in hcm(bootstrap_json(settings(jwks_file=jwks)))["http_filters"]]
    assert names.index("envoy.filters.http.header_mutation") < names.index(JWT_AUTHN)
    assert names.index(JWT_AUTHN) < names.index(LOCAL_RATELIMIT) < names.index(EXT_AUTHZ)


def test_jwt_authn_inlines_the_jwks_and_maps_claims_to_identity_headers(jwks):
    config = filters(bootstrap_json(settings(jwks_file=jwks)))[JWT_AUTHN]
    provider = config["providers"]["shipyard"]
    assert provider["local_jwks"] == {"inline_string": JWKS}
    assert provider.get("forward", False) is False  # proto3 JSON leaves false out
    assert provider["from_headers"] == [{"name": "authorization", "value_prefix": "Bearer "}]
    assert provider["from_cookies"] == ["shipyard_token"]  # the browser login cookie
    mapped = {m["claim_name"]: m["header_name"] for m in provider["claim_to_headers"]}
    assert mapped["sub"] == "x-shipyard-user-id"
    assert mapped["ak"] == "x-shipyard-access-key"
    # A request without a bearer token is not refused here: it goes on to ext_authz.
    last = config["rules"][-1]
    assert last["match"] == {"prefix": "/"}
    assert {"allow_missing": {}} in last["requires"]["requires_any"]["requirements"]


def test_ext_authz_runs_only_without_a_verified_token(jwks):
    authz = filters(bootstrap_json(settings(jwks_file=jwks)))[EXT_AUTHZ]
    matcher = authz["filter_enabled_metadata"]
    assert matcher["filter"] == JWT_AUTHN
    assert matcher["invert"] is True


def test_public_routes_skip_ext_authz_and_have_a_per_address_limit(jwks):
    routes = vhost(bootstrap_json(settings(jwks_file=jwks)))["routes"]
    login = next(r for r in routes if r["match"].get("path") == "/v1/auth:login")
    assert login["route"]["cluster"] == "auth"
    per_filter: dict[str, Any] = login["typed_per_filter_config"]
    assert per_filter[EXT_AUTHZ]["disabled"] is True
    limit = per_filter[LOCAL_RATELIMIT]
    assert limit["rate_limits"] == [{"actions": [{"remote_address": {}}]}]
    assert limit["descriptors"][0]["token_bucket"]["max_tokens"] == 60
    # ChangePassword needs a credential: no exemption.
    assert not [r for r in routes if r["match"].get("path", "").endswith("ChangePassword")]


def test_tls_settings_make_the_listener_https(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    boot = bootstrap_json(settings(tls_cert_file=cert, tls_key_file=key))
    (listener,) = boot["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    tls = chain["transport_socket"]["typed_config"]["common_tls_context"]
    assert tls["alpn_protocols"] == ["h2", "http/1.1"]
    assert tls["tls_certificates"][0]["certificate_chain"]["filename"] == str(cert.resolve())


def test_certificate_without_key_is_a_settings_error(tmp_path):
    with pytest.raises(ValidationError, match="EDGE_TLS_CERT_FILE and EDGE_TLS_KEY_FILE"):
        settings(tls_cert_file=tmp_path / "c.pem")


def test_app_hosts_need_an_app_token_which_is_no_bearer_token_elsewhere(jwks):
    config = filters(bootstrap_json(settings(jwks_file=jwks)))[JWT_AUTHN]
    app = config["providers"]["app"]
    assert app["audiences"] == ["shipyard-app"]
    assert (app["from_params"], app["from_cookies"]) == (["token"], ["shipyard_app"])
    # Its payload is not the bearer's: ext_authz still checks app-token requests elsewhere.
    assert app["payload_in_metadata"] != config["providers"]["shipyard"]["payload_in_metadata"]
    first = config["rules"][0]
    assert first["requires"] == {"provider_name": "app"}
    assert first["match"]["headers"][0]["name"] == ":authority"
