"""The Kubernetes manifests: each overlay builds with kustomize and validates against the
Kubernetes API schemas (kubernetes-validate, offline), and says what the deployment promises."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("single-node", "production")
# The oldest release the manifests support (gRPC probes, matchLabelKeys).
KUBERNETES_VERSION = "1.31.0"


def _kustomize() -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    pytest.skip("neither kustomize nor kubectl (which embeds it) is installed")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every overlay rendered, from a copy whose secrets/ scripts/deploy_secrets.py wrote."""
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(ROOT / "deploy" / "k8s", copy, ignore=shutil.ignore_patterns("secrets"))
    out: dict[str, Path] = {}
    for overlay in OVERLAYS:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "deploy_secrets.py"),
                str(copy / "overlays" / overlay / "secrets"),
                "--database-url=postgresql+asyncpg://shipyard:pw@db.example:5432/shipyard",
                "--redis-url=redis://redis.example:6379/0",
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        built = subprocess.run(
            [*_kustomize(), str(copy / "overlays" / overlay)],
            check=False,
            capture_output=True,
            text=True,
        )
        assert built.returncode == 0, built.stderr
        out[overlay] = copy / f"{overlay}.yaml"
        out[overlay].write_text(built.stdout)
    return out


def _objects(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    docs = yaml.safe_load_all(path.read_text())
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if d}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_the_kubernetes_schemas(rendered, overlay) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("kubernetes-validate")),
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            str(rendered[overlay]),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "did not validate" not in result.stdout


def test_a_broken_manifest_is_refused(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
        "spec: {replicas: two, selector: {}, template: {}}\n"
    )
    result = subprocess.run(
        [str(Path(sys.executable).with_name("kubernetes-validate")), "--strict", str(bad)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "spec.replicas" in result.stdout + result.stderr


def test_production_layout(rendered) -> None:
    objs = _objects(rendered["production"])
    for name, replicas in {"auth": 3, "registry": 3, "scheduler": 2, "edge": 3}.items():
        deployment = objs[("Deployment", name)]
        assert deployment["spec"]["replicas"] == replicas
        assert ("PodDisruptionBudget", name) in objs
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        probe = container["readinessProbe"]
        assert "grpc" in probe or probe["exec"]["command"][-1] == "edge"
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    assert objs[("StatefulSet", "storage")]["spec"]["volumeClaimTemplates"]
    assert {("DaemonSet", "agent"), ("DaemonSet", "agent-gpu"), ("Job", "shipyard-migrate")} <= set(
        objs
    )
    assert objs[("Service", "edge")]["spec"]["type"] == "LoadBalancer"
    assert all(
        objs[("Service", s)]["spec"].get("type", "ClusterIP") == "ClusterIP"
        for s in ("auth", "registry", "scheduler", "storage")
    )


def test_only_the_edge_accepts_traffic_from_outside(rendered) -> None:
    objs = _objects(rendered["production"])
    policies = [d for (kind, _), d in objs.items() if kind == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert deny and "ingress" not in deny[0]["spec"]  # every pod: no ingress unless allowed
    open_to_all = [
        p["spec"]["podSelector"]["matchLabels"]
        for p in policies
        if any("from" not in rule for rule in p["spec"].get("ingress", []))
    ]
    assert open_to_all == [{"app.kubernetes.io/name": "edge"}]


def test_secrets_hold_the_token_and_database_credentials(rendered) -> None:
    objs = _objects(rendered["single-node"])
    secrets = {name.rsplit("-", 1)[0]: d for (kind, name), d in objs.items() if kind == "Secret"}
    own = set(secrets["shipyard-secrets"]["data"])
    assert {"internal-token", "secret-key-encryption-key"} <= own
    assert {"database-url", "redis-url"} <= set(secrets["shipyard-datastores"]["data"])
    registry = objs[("Deployment", "registry")]["spec"]["template"]["spec"]["containers"][0]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in registry["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs["REGISTRY_DATABASE_URL"] == secrets["shipyard-datastores"]["metadata"]["name"]
    assert all(objs[("Deployment", n)]["spec"]["replicas"] == 1 for n in ("auth", "edge"))
