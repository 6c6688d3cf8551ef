"""`shipyard edge config`: the bootstrap and every xDS resource, readable and redacted."""

from __future__ import annotations

import argparse
import json

import pytest

from cli.edge_command import cmd_edge_config
from gateway.inspect import REDACTED, edge_config, print_config
from gateway.xds.routes import RETRY_READ
from tests.unit.gateway.test_edge_bootstrap import settings

TOKEN = "s3cret"


def test_xds_config_lists_every_resource_kind_with_the_token_redacted():
    config = edge_config(settings(registry_addr="127.0.0.1:7001,127.0.0.1:7002"))

    text = json.dumps(config)
    assert TOKEN not in text and REDACTED in text
    boot = config["bootstrap"]
    assert "ads_config" in boot["dynamic_resources"]
    assert [c["name"] for c in boot["static_resources"]["clusters"]] == ["xds"]
    served = config["resources"]
    assert [listener["name"] for listener in served["listeners"]] == ["edge"]
    registry = next(e for e in served["endpoints"] if e["cluster_name"] == "registry")
    ports = [lb["endpoint"]["address"]["socket_address"]["port_value"]
             for lb in registry["endpoints"][0]["lb_endpoints"]]  # fmt: skip
    assert ports == [7001, 7002]
    grpc_clusters = [
        c for c in served["clusters"] if c["name"] not in ("storage-http", "auth-authz")
    ]
    assert all(c["health_checks"][0]["grpc_health_check"] == {} for c in grpc_clusters)
    # auth's HTTP Check is probed on its health path, never with a client path.
    authz = next(c for c in served["clusters"] if c["name"] == "auth-authz")
    assert authz["health_checks"][0]["http_health_check"]["path"] == "/healthz"
    routes = served["routes"][0]["virtual_hosts"][0]["routes"]
    get_session = next(
        r
        for r in routes
        if r["match"].get("path") == "/shipyard.registry.v1.SessionService/GetSession"
    )
    assert get_session["route"]["retry_policy"]["retry_on"] == RETRY_READ


def test_a_private_key_is_never_printed(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nTOPSECRETKEY\n-----END PRIVATE KEY-----\n")

    config = edge_config(settings(tls_cert_file=cert, tls_key_file=key))

    (secret,) = config["resources"]["secrets"]
    assert secret["tls_certificate"]["private_key"] == REDACTED
    assert "TOPSECRETKEY" not in json.dumps(config)


def test_command_prints_json_and_the_static_bootstrap_on_request(monkeypatch, capsys):
    monkeypatch.setenv("EDGE_INTERNAL_TOKEN", TOKEN)

    assert print_config(["--static"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"bootstrap"}
    assert printed["bootstrap"]["static_resources"]["listeners"][0]["name"] == "edge"
    assert TOKEN not in json.dumps(printed)


def test_command_reports_bad_settings(monkeypatch, capsys):
    monkeypatch.setenv("EDGE_REGISTRY_ADDR", "no-port")

    assert print_config([]) == 2

    assert "registry_addr" in capsys.readouterr().err


async def test_shipyard_edge_config_runs_the_gateway_printer(monkeypatch):
    monkeypatch.setenv("EDGE_REGISTRY_ADDR", "no-port")  # fails fast, before any building

    assert await cmd_edge_config(argparse.Namespace(static=False)) == 2


@pytest.fixture(autouse=True)
def _no_edge_env(monkeypatch):
    for name in ("EDGE_INTERNAL_TOKEN", "EDGE_REGISTRY_ADDR", "EDGE_XDS"):
        monkeypatch.delenv(name, raising=False)
