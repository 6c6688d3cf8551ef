"""open_beneath with the kernel's openat2 and with the component walk used where it is missing."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.storage.adapters import beneath


@pytest.fixture(params=["openat2", "walk"])
def mode(request, monkeypatch) -> Iterator[str]:
    if request.param == "walk":
        monkeypatch.setattr(beneath, "_have_openat2", False)
    yield request.param


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f").write_text("inside")
    (tmp_path / "secret").write_text("outside")
    (root / "abs").symlink_to(tmp_path / "secret")
    (root / "rel").symlink_to("../secret")
    return root


def _read(root: Path, rel: str) -> str:
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = beneath.open_beneath(root_fd, rel, os.O_RDONLY)
    finally:
        os.close(root_fd)
    with os.fdopen(fd) as f:
        return f.read()


def test_plain_paths_open(mode, tree):
    assert _read(tree, "sub/f") == "inside"


@pytest.mark.parametrize("rel", ["abs", "rel", "../secret", "sub/../../secret"])
def test_every_way_out_is_exdev(mode, tree, rel):
    with pytest.raises(OSError) as err:
        _read(tree, rel)
    assert err.value.errno == errno.EXDEV


def test_renames_never_replace(tree):
    root_fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        (tree / "other").write_text("keep")
        with pytest.raises(FileExistsError):
            beneath.rename_noreplace(root_fd, "sub", root_fd, "other")
        beneath.rename_noreplace(root_fd, "sub", root_fd, "moved")
    finally:
        os.close(root_fd)
    assert (tree / "other").read_text() == "keep"
    assert (tree / "moved" / "f").exists()
