"""Record the protos of a release as the baseline `buf breaking` checks later changes against:

    .venv/bin/python scripts/proto_baseline.py v0.2.0     # at the release's commit

writes proto/compat/release.binpb (the descriptor image scripts/gen_protos.py builds, without
source info: only the wire and JSON shapes matter) and proto/compat/RELEASE (its name).
tests/contract/test_proto_compat.py then fails on any change that would break a peer of that
release, which is what lets a deployment upgrade one service at a time (docs/deploy.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTORS = ROOT / "build" / "descriptors.binpb"
BASELINE = ROOT / "proto" / "compat" / "release.binpb"
RELEASE = ROOT / "proto" / "compat" / "RELEASE"


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/proto_baseline.py RELEASE_NAME")
    image = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    for file in image.file:
        file.ClearField("source_code_info")
    BASELINE.write_bytes(image.SerializeToString(deterministic=True))
    RELEASE.write_text(sys.argv[1] + "\n")
    print(f"{BASELINE.relative_to(ROOT)}: {len(image.file)} files, release {sys.argv[1]}")


if __name__ == "__main__":
    main()
