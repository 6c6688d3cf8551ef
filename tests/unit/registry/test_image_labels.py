"""ai.backend.* labels and image references, as rescans and CreateSession read them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.core.errors import InvalidArgument
from libs.core.slots import ResourceSlots
from services.registry.domain.image_labels import LabelError, parse_labels
from services.registry.domain.image_ref import BadReference, canonical, normalize_arch
from services.registry.domain.images import ResolvedImage
from services.registry.service.image_resolution import check_minimums


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python:3.11", "docker.io/library/python:3.11"),
        ("python", "docker.io/library/python:latest"),
        ("index.docker.io/lablup/python:3.9", "docker.io/lablup/python:3.9"),
        ("cr.example.com:5000/ns/img:1", "cr.example.com:5000/ns/img:1"),
        ("127.0.0.1:5000/shipyard/busybox", "127.0.0.1:5000/shipyard/busybox:latest"),
        ("localhost/img:2", "localhost/img:2"),
    ],
)
def test_references_are_made_canonical(text: str, expected: str) -> None:
    assert canonical(text) == expected


@pytest.mark.parametrize("text", ["", "Python:3", "img@sha256:abc", "ns/img:bad tag"])
def test_bad_references_are_refused(text: str) -> None:
    with pytest.raises(BadReference):
        canonical(text)


def test_architectures_use_the_oci_spelling() -> None:
    assert [normalize_arch(a) for a in ("x86_64", "aarch64", "AMD64", "arm64")] == [
        "amd64",
        "arm64",
        "amd64",
        "arm64",
    ]


def test_labels_parse_into_a_spec() -> None:
    spec = parse_labels(
        {
            "ai.backend.kernelspec": "1",
            "ai.backend.features": "batch query",
            "ai.backend.runtime-path": "/usr/bin/python3",
            "ai.backend.service-ports": "jupyter:http:8080,vscode:http:[8180,8181]",
            "ai.backend.resource.min.cpu": "0.5",
            "ai.backend.resource.min.mem": "1g",
            "ai.backend.resource.min.cuda.device": "1",
        }
    )
    assert spec.features == ("batch", "query")
    assert spec.runtime_path == "/usr/bin/python3"
    assert [(p.name, p.container_ports) for p in spec.service_ports] == [
        ("jupyter", (8080,)),
        ("vscode", (8180, 8181)),
    ]
    assert spec.min_resources == {
        "cpu": Decimal("0.5"),
        "mem": Decimal(1024**3),
        "cuda.device": Decimal(1),
    }


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({}, "missing ai.backend.kernelspec"),
        ({"ai.backend.kernelspec": "2"}, "not supported"),
        ({"ai.backend.kernelspec": "1", "ai.backend.service-ports": "x:ftp:21"}, "protocol"),
        ({"ai.backend.kernelspec": "1", "ai.backend.service-ports": "x:http:2000"}, "2000"),
        ({"ai.backend.kernelspec": "1", "ai.backend.resource.min.mem": "lots"}, "min.mem"),
    ],
)
def test_malformed_labels_say_which(labels: dict[str, str], message: str) -> None:
    with pytest.raises(LabelError, match=message):
        parse_labels(labels)


def _image(**minimums: dict[str, str]) -> ResolvedImage:
    return ResolvedImage(
        canonical="cr/x:1",
        architectures=tuple(minimums),
        minimums={arch: ResourceSlots(m) for arch, m in minimums.items()},
    )


def test_a_request_below_the_minimum_names_the_slot_and_the_minimum() -> None:
    image = _image(amd64={"cpu": "2", "mem": "1000"})
    with pytest.raises(InvalidArgument) as err:
        check_minimums(image, ResourceSlots({"cpu": "1", "mem": "2000"}))
    assert [v.field for v in err.value.violations] == ["resources.cpu"]
    assert "at least 2 cpu" in err.value.message
    check_minimums(image, ResourceSlots({"cpu": "2", "mem": "1000"}))


def test_meeting_one_architectures_minimum_is_enough() -> None:
    image = _image(amd64={"mem": "4000"}, arm64={"mem": "1000"})
    check_minimums(image, ResourceSlots({"mem": "2000"}))
