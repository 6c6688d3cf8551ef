"""App tokens and app hosts (gateway/apps.py): what a token carries and which hosts need one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import jwt

from gateway import apps


def test_a_token_names_its_app_host_and_user_and_expires():
    key = apps.app_key("internal")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    token, expires = apps.issue_token(key, "echo-s1", "u-1", timedelta(minutes=5), now)
    assert expires == now + timedelta(minutes=5)
    claims = jwt.decode(
        token, key, algorithms=["HS256"], audience=apps.AUDIENCE, options={"verify_exp": False}
    )
    assert (claims["host"], claims["sub"], claims["iss"]) == ("echo-s1", "u-1", apps.ISSUER)
    assert claims["exp"] - claims["iat"] == 300


def test_the_key_follows_the_internal_token_so_replicas_agree_and_deployments_do_not():
    assert apps.app_key("a") == apps.app_key("a") != apps.app_key("b")


def test_only_subdomains_of_the_app_domain_are_app_hosts():
    pattern = re.compile(apps.host_pattern("localhost"))
    assert pattern.match("echo-1f.localhost:8090")
    assert pattern.match("port-8000-x.localhost")
    for host in ("localhost:8090", "127.0.0.1:8090", "a.b.localhost", "echo.localhostx"):
        assert not pattern.match(host), host
