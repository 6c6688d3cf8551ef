"""STORAGE_VOLUMES: one volume by default, several from JSON, clear errors for bad lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.storage.adapters.volume_config import parse_volumes


def test_without_a_list_the_single_volume_is_used() -> None:
    (spec,) = parse_volumes("", name="local", root=Path("/v"))
    assert (spec.name, spec.backend, spec.root) == ("local", "vfs", Path("/v"))


def test_a_list_gives_several_volumes() -> None:
    raw = json.dumps([{"name": "a", "root": "/a"}, {"name": "b", "backend": "vfs", "root": "/b"}])
    assert [s.name for s in parse_volumes(raw, name="x", root=Path("/x"))] == ["a", "b"]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("not json", "not a valid list"),
        ("[]", "no volume"),
        ('[{"name": "a", "root": "/a"}, {"name": "a", "root": "/b"}]', "twice"),
        ('[{"name": "a", "root": "/a", "backend": "nfs"}]', "backend"),
        ('[{"name": "../a", "root": "/a"}]', "name"),
        ('[{"name": "a", "root": "/a", "colour": "red"}]', "colour"),
    ],
)
def test_bad_lists_are_refused_naming_the_problem(raw: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_volumes(raw, name="x", root=Path("/x"))
