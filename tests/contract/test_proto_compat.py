"""Mixed-version rollouts: today's protos stay wire- and JSON-compatible with the last release's
(proto/compat/release.binpb, recorded by scripts/proto_baseline.py), checked with `buf breaking`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTORS = ROOT / "build" / "descriptors.binpb"
BASELINE = ROOT / "proto" / "compat" / "release.binpb"


def _buf() -> str:
    local = ROOT / "build" / "npm" / "node_modules" / ".bin" / "buf"
    found = str(local) if local.exists() else shutil.which("buf")
    if found is None:
        pytest.fail("buf is not installed: run scripts/bootstrap (npm i @bufbuild/buf)")
    return found


def _breaking(image: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _buf(),
            "breaking",
            str(image),
            "--against",
            str(BASELINE),
            "--config",
            str(ROOT / "buf.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_protos_are_compatible_with_the_last_release() -> None:
    result = _breaking(DESCRIPTORS)
    release = (ROOT / "proto" / "compat" / "RELEASE").read_text().strip()
    assert result.returncode == 0, (
        f"incompatible with release {release}:\n{result.stdout}{result.stderr}"
    )


def _edited(tmp_path: Path, edit: str) -> Path:
    image = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    file = next(f for f in image.file if f.name == "shipyard/registry/v1/session_service.proto")
    message = next(m for m in file.message_type if m.name == "CreateSessionRequest")
    field = message.field[0]
    if edit == "renumber":
        field.number = 999
    elif edit == "rename":  # the JSON name is part of the REST contract
        field.name = field.name + "_renamed"
        field.json_name = field.json_name + "Renamed"
    else:  # an addition: what compatible changes look like
        added = message.field.add()
        added.CopyFrom(field)
        added.name, added.json_name, added.number = "added_later", "addedLater", 9999
    out = tmp_path / f"{edit}.binpb"
    out.write_bytes(image.SerializeToString())
    return out


@pytest.mark.parametrize("edit", ["renumber", "rename"])
def test_a_breaking_change_is_caught(tmp_path: Path, edit: str) -> None:
    result = _breaking(_edited(tmp_path, edit))
    assert result.returncode != 0
    assert "CreateSessionRequest" in result.stdout


def test_an_added_field_is_compatible(tmp_path: Path) -> None:
    result = _breaking(_edited(tmp_path, "add"))
    assert result.returncode == 0, result.stdout + result.stderr
