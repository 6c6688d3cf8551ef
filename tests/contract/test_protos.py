"""Contracts: buf lint is clean, public RPCs have /v1/ HTTP rules, internal ones have none."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTORS = ROOT / "build" / "descriptors.binpb"
PUBLIC = {
    "shipyard.auth.v1.IdentityService",
    "shipyard.registry.v1.SessionService",
    "shipyard.registry.v1.ClusterService",
    "shipyard.registry.v1.ImageService",
    "shipyard.registry.v1.ContainerRegistryService",
    "shipyard.registry.v1.ResourceGroupService",
    "shipyard.scheduler.v1.SchedulerService",
    "shipyard.storage.v1.VFolderService",
}


def _buf() -> str | None:
    local = ROOT / "build" / "npm" / "node_modules" / ".bin" / "buf"
    return str(local) if local.exists() else shutil.which("buf")


def _services() -> dict[str, descriptor_pb2.ServiceDescriptorProto]:
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    return {
        f"{f.package}.{s.name}": s
        for f in fds.file
        if f.package.startswith("shipyard.")
        for s in f.service
    }


def test_buf_lint_is_clean() -> None:
    buf = _buf()
    if buf is None:
        pytest.fail("buf is not installed: run scripts/bootstrap (npm i @bufbuild/buf)")
    result = subprocess.run(
        [buf, "lint", str(DESCRIPTORS), "--config", str(ROOT / "buf.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_rpcs_have_v1_http_rules_and_internal_ones_none() -> None:
    services = _services()
    assert set(services) >= PUBLIC
    for name, service in services.items():
        for method in service.method:
            rule = method.options.Extensions[annotations_pb2.http]
            pattern = rule.get or rule.post or rule.delete or rule.patch or rule.put
            if name in PUBLIC:
                assert pattern.startswith("/v1/"), f"{name}/{method.name} needs a /v1/ rule"
            else:
                assert not pattern, f"internal {name}/{method.name} must not be exposed over HTTP"
