"""Generate Python code (with .pyi stubs) and Envoy's descriptor set from proto/.

Output goes to build/gen (not committed) and build/descriptors.binpb. The buf.validate schema
is taken from the installed protovalidate package, so the rules we annotate with are exactly the
ones the validator enforces; nothing has to be fetched from a registry.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import grpc_tools
from google.protobuf import descriptor_pb2, duration_pb2, field_mask_pb2, timestamp_pb2
from protovalidate._gen.buf.validate import validate_pb

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
GEN = BUILD / "gen"
VALIDATE_SET = BUILD / "buf_validate.binpb"
DESCRIPTORS = BUILD / "descriptors.binpb"


def write_validate_descriptor_set() -> None:
    """Write buf/validate/validate.proto (and its imports) as a FileDescriptorSet."""
    fds = descriptor_pb2.FileDescriptorSet()
    for module in (descriptor_pb2, duration_pb2, field_mask_pb2, timestamp_pb2):
        module.DESCRIPTOR.CopyToProto(fds.file.add())
    fds.file.add().MergeFromString(validate_pb._DESC.proto.to_binary())
    VALIDATE_SET.write_bytes(fds.SerializeToString())


def protoc(*args: str) -> None:
    wkt = Path(grpc_tools.__file__).parent / "_proto"
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{ROOT / 'proto'}",
        f"-I{ROOT / 'third_party'}",
        f"-I{wkt}",
        *args,
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> None:
    shutil.rmtree(GEN, ignore_errors=True)
    GEN.mkdir(parents=True)
    write_validate_descriptor_set()
    ours = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
    vendored = sorted(
        str(p.relative_to(ROOT / "third_party"))
        for p in (ROOT / "third_party").rglob("*.proto")
        if p.parts[-3:-1] not in {("google", "api"), ("google", "rpc")}
        and "google" not in p.relative_to(ROOT / "third_party").parts[:1]
    )
    protoc(
        f"--descriptor_set_in={VALIDATE_SET}",
        f"--python_out={GEN}",
        f"--pyi_out={GEN}",
        f"--grpc_python_out={GEN}",
        "buf/validate/validate.proto",
        *ours,
        *vendored,
    )
    # Envoy needs every public service plus the error detail types (envoy-edge notes, P3).
    protoc(
        f"--descriptor_set_in={VALIDATE_SET}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={DESCRIPTORS}",
        *ours,
        "google/rpc/status.proto",
        "google/rpc/error_details.proto",
    )
    for pkg_dir in [p for p in GEN.rglob("*") if p.is_dir()]:
        (pkg_dir / "__init__.py").touch()
    (GEN / "py.typed").touch()
    print(f"generated {len(ours)} protos into {GEN.relative_to(ROOT)}")


if __name__ == "__main__":
    del sysconfig  # imported for symmetry with the notes; include paths come from the packages
    main()
