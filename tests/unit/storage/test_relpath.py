from __future__ import annotations

import pytest

from services.storage.domain.file_errors import InvalidPath
from services.storage.domain.relpath import path_parts


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("a/b", ("a", "b")),
        ("./a//b/", ("a", "b")),
        ("a/./b", ("a", "b")),
        ("..a/b..", ("..a", "b..")),
    ],
)
def test_relative_paths_normalise(path, parts):
    assert path_parts(path, "path") == parts


@pytest.mark.parametrize("path", ["", ".", "./"])
def test_the_root_is_refused_unless_allowed(path):
    assert path_parts(path, "path", allow_root=True) == ()
    with pytest.raises(InvalidPath) as err:
        path_parts(path, "path")
    assert [v.field for v in err.value.violations] == ["path"]


@pytest.mark.parametrize("path", ["/abs", "a/../b", "..", "a\x00", "x" * 4097])
def test_escaping_or_malformed_paths_name_the_field(path):
    with pytest.raises(InvalidPath) as err:
        path_parts(path, "source_path", allow_root=True)
    assert [v.field for v in err.value.violations] == ["source_path"]
