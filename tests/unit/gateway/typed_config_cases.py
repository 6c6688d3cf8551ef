"""Edge settings covering every optional part of the configuration, and the normalization that
makes their generated configuration comparable across machines (paths become placeholders)."""

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
# The public services when the fixture was captured: services added since are routed the same
# way and would only make the comparison with the frozen capture fail.
CAPTURED_SERVICES = {
    **{
        f"shipyard.auth.v1.{s}": "auth"
        for s in (
            "IdentityService",
            "AuthenticationService",
            "DomainService",
            "ProjectService",
            "UserService",
            "KeypairService",
            "ResourcePolicyService",
            "ResourceGroupAccessService",
            "AuditService",
        )
    },
    **{
        f"shipyard.registry.v1.{s}": "registry"
        for s in (
            "SessionService",
            "ExecutionService",
            "ClusterService",
            "ImageService",
            "ContainerRegistryService",
            "ResourceGroupService",
            "EventAdminService",
            "UsageService",
        )
    },
    "shipyard.storage.v1.FileService": "storage",
    "shipyard.storage.v1.VFolderSharingService": "storage",
    "shipyard.scheduler.v1.SchedulerService": "scheduler",
    "shipyard.storage.v1.VFolderService": "storage",
}


def make_settings(case: str, tmp: Path, *, xds: bool) -> EdgeSettings:
    # The fixture predates storage's HTTP transfer route (tested in test_edge_bootstrap.py).
    values: dict[str, Any] = {
        "internal_token": SecretStr("s3cret"),
        "xds": xds,
        "storage_http_addr": "",
        "public_services": CAPTURED_SERVICES,
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
