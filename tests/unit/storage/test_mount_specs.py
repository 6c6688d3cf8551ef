"""Mount specs: "name[/subpath][:kernel_path]", kernel paths below /home/work only, no overlaps."""

from __future__ import annotations

import pytest

from libs.core.errors import InvalidArgument
from services.storage.domain.mount_specs import (
    MountSpec,
    MountTargetRefused,
    check_overlaps,
    parse_spec,
)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("data", MountSpec("data", (), "/home/work/data")),
        ("data/a/b", MountSpec("data", ("a", "b"), "/home/work/data")),
        ("data:/home/work/x", MountSpec("data", (), "/home/work/x")),
        ("data/a:in/raw", MountSpec("data", ("a",), "/home/work/in/raw")),
        ("data/./a/:./x/", MountSpec("data", ("a",), "/home/work/x")),
    ],
)
def test_specs_parse(text: str, spec: MountSpec) -> None:
    assert parse_spec(text, "mounts[0]") == spec


@pytest.mark.parametrize(
    "text",
    [
        "data:/home/work",
        "data:/home/workx",
        "data:/etc/x",
        "data:../x",
        "data:/home/work/a/../../etc",
        "data:.jupyter",
        "data:/home/work/.ssh/keys",
        "data/../x",
        "bad name",
        "data:" + "x" * 600,
    ],
)
def test_bad_specs_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_spec(text, "mounts[3]")
    assert [v.field for v in err.value.violations] == ["mounts[3]"]


def test_overlapping_targets_are_refused_and_siblings_allowed() -> None:
    check_overlaps([("a", "/home/work/a"), ("b", "/home/work/ab"), ("c", "/home/work/b/c")])
    for later in ("/home/work/a", "/home/work/a/inner", "/home/work/b"):
        with pytest.raises(MountTargetRefused) as err:
            check_overlaps([("a", "/home/work/a"), ("c", "/home/work/b/c"), ("x", later)])
        assert err.value.violations[0].field == "x"
