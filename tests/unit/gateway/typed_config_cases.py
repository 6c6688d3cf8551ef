"""Edge settings covering every optional part of the configuration, and the normalization that
makes their generated configuration comparable across machines (paths become placeholders).

`python -m tests.unit.gateway.typed_config_cases` writes the snapshot the tests compare with
(fixtures/edge_config_before_typed.json): run it after a deliberate change to the edge's
configuration and review the diff of the snapshot like code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from gateway.config import EdgeSettings

JWKS = '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}'
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMC4C\n-----END PRIVATE KEY-----\n"
CASES = ("plain", "everything")


def make_settings(case: str, tmp: Path, *, xds: bool) -> EdgeSettings:
    values: dict[str, Any] = {
        "internal_token": SecretStr("s3cret"),
        "xds": xds,
    }
    if case == "everything":
        (tmp / "jwks.json").write_text(JWKS)
        (tmp / "cert.pem").write_text(CERT)
        (tmp / "key.pem").write_text(KEY)
        values |= {
            "jwks_file": tmp / "jwks.json",
            "tls_cert_file": tmp / "cert.pem",
            "tls_key_file": tmp / "key.pem",
            "otlp_endpoint": "127.0.0.1:4317",
            "cors_origins": "http://a.test,http://b.test",
            "storage_addr": "storage.internal:7000",
            "registry_addr": "127.0.0.1:7001,127.0.0.1:7002",
            "authz_timeout_seconds": 0.5,
            "max_connections": 500,
        }
    return EdgeSettings(**values)


def normalize(config: Any, settings: EdgeSettings, tmp: Path) -> Any:
    """`config` as plain JSON data, with this machine's paths replaced by placeholders."""
    text = json.dumps(config)
    text = text.replace(str(settings.descriptor_set.resolve()), "<descriptors>")
    text = text.replace(str(tmp.resolve()), "<tmp>")
    return json.loads(text)


def capture(tmp: Path) -> dict[str, Any]:
    """The snapshot: each case's static bootstrap and its xDS bootstrap and resources."""
    from betterproto2 import Casing

    from gateway.envoy_config import build_bootstrap
    from gateway.inspect import edge_config

    found: dict[str, Any] = {}
    for case in CASES:
        static = make_settings(case, tmp, xds=False)
        xds = make_settings(case, tmp, xds=True)
        found[case] = {
            "static": normalize(build_bootstrap(static).to_dict(casing=Casing.SNAKE), static, tmp),
            "xds": normalize(edge_config(xds), xds, tmp),
        }
    return found


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        snapshot = capture(Path(scratch))
    out = Path(__file__).parent / "fixtures" / "edge_config_before_typed.json"
    out.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
