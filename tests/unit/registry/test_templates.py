"""Template documents: what they may say, which key an error names, and how a request
overrides the template it starts from."""

from __future__ import annotations

import pytest

from services.registry.domain.cluster import ClusterMode
from services.registry.domain.model import SessionType
from services.registry.domain.templates import InvalidTemplate, TemplateKind, TemplateSpec
from services.registry.service.session_requests import CreateSessionCommand, apply_template
from services.registry.service.session_templates import load_document

FULL = """
kind: cluster_template
name: trainer
spec:
  session_type: batch
  image: python:3.11
  resources: {cpu: 0.5, mem: 268435456}
  mounts: [data, "data/sub:/home/work/x"]
  environ: {EPOCHS: 3}
  startup_command: python train.py
  resource_group: gpu
  cluster_size: 3
  cluster_mode: multi-node
"""


def test_a_full_cluster_document_is_read_in_every_field() -> None:
    doc = load_document(FULL)
    assert (doc.kind, doc.name) == (TemplateKind.CLUSTER, "trainer")
    assert doc.spec == TemplateSpec(
        session_type=SessionType.BATCH,
        image="python:3.11",
        resources={"cpu": "0.5", "mem": "268435456"},
        mounts=("data", "data/sub:/home/work/x"),
        environ={"EPOCHS": "3"},
        startup_command="python train.py",
        resource_group="gpu",
        cluster_size=3,
        cluster_mode=ClusterMode.MULTI_NODE,
    )


def test_json_is_accepted_too() -> None:
    doc = load_document('{"kind": "session_template", "name": "j", "spec": {"image": "x"}}')
    assert doc.spec.image == "x" and doc.spec.cluster_size == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("- a list", "payload"),
        ("kind: task\nname: t", "payload.kind"),
        ("kind: session_template", "payload.name"),
        ("kind: session_template\nname: 'bad name'", "payload.name"),
        ("kind: session_template\nname: t\nextra: 1", "payload.extra"),
        ("kind: session_template\nname: t\nspec: {cluster_size: 2}", "payload.spec.cluster_size"),
        (
            "kind: session_template\nname: t\nspec: {resources: {cpu: -1}}",
            "payload.spec.resources.cpu",
        ),
        ("kind: session_template\nname: t\nspec: {environ: {'1X': a}}", "payload.spec.environ.1X"),
        ("kind: session_template\nname: t\nspec: {mounts: [a, a]}", "payload.spec.mounts"),
        ("kind: session_template\nname: t\nspec: {session_type: batch}", "startup_command"),
        ("kind: session_template\nname: t\nspec: {session_type: other}", "spec.session_type"),
        ("kind: cluster_template\nname: t\nspec: {cluster_size: 1}", "spec.cluster_size"),
        (
            "kind: cluster_template\nname: t\nspec: {cluster_size: 2, cluster_mode: x}",
            "cluster_mode",
        ),
        ("kind: session_template\nname: t\nspec: {image: [1]}", "payload.spec.image"),
        ("kind: [", "payload"),
    ],
)
def test_errors_name_the_key(payload: str, field: str) -> None:
    with pytest.raises(InvalidTemplate) as err:
        load_document(payload)
    assert any(field in v.field for v in err.value.violations), err.value.violations


def _command(**kw: object) -> CreateSessionCommand:
    base: dict[str, object] = {
        "name": "",
        "session_type": None,
        "image": "",
        "resources": {},
        "vfolder_names": [],
        "startup_command": "",
        "resource_group": "",
        "client_token": "",
        "project_id": "",
        "environ": {},
        "wait": False,
        "wait_timeout": None,
        "cluster_size": 0,
    }
    return CreateSessionCommand(**{**base, **kw})  # type: ignore[arg-type]


def test_the_request_overrides_the_template_field_by_field() -> None:
    spec = load_document(FULL).spec
    merged = apply_template(
        _command(resources={"cpu": "2"}, environ={"EXTRA": "1"}, image="other:1"), spec
    )
    assert merged.image == "other:1"
    assert merged.resources == {"cpu": "2", "mem": "268435456"}
    assert merged.environ == {"EPOCHS": "3", "EXTRA": "1"}
    assert merged.session_type is SessionType.BATCH
    assert (merged.cluster_size, merged.cluster_mode) == (3, ClusterMode.MULTI_NODE)
    assert merged.mounts == ("data", "data/sub:/home/work/x")
    replaced = apply_template(_command(mounts=["other"], cluster_size=1), spec)
    assert list(replaced.mounts) == ["other"] and replaced.cluster_size == 1


def test_an_empty_template_leaves_the_request_alone() -> None:
    cmd = _command(image="python:3.11", resources={"cpu": "1"})
    merged = apply_template(cmd, TemplateSpec())
    assert (merged.image, dict(merged.resources), merged.session_type) == (
        "python:3.11",
        {"cpu": "1"},
        None,
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("[" * 60000, "payload"),
        ("{a: " * 20000, "payload"),
        (
            "kind: session_template\nname: t\nspec: {resources: {cpu: 1e999999}}",
            "spec.resources.cpu",
        ),
    ],
)
def test_pathological_documents_are_refused_cleanly(payload: str, field: str) -> None:
    with pytest.raises(InvalidTemplate) as err:
        load_document(payload)
    assert any(field in v.field for v in err.value.violations)
