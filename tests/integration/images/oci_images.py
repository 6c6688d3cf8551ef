"""Tiny kernel images built as OCI layouts (busybox + ai.backend labels), pushed with skopeo.

No engine is needed: the layer is a tar of a busybox-static rootfs, the config carries the
labels and architecture, and `skopeo copy` pushes single images and multi-arch indexes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

KERNEL_LABELS = {
    "ai.backend.kernelspec": "1",
    "ai.backend.features": "batch query uid-match",
    "ai.backend.base-distro": "busybox",
    "ai.backend.runtime-type": "python",
    "ai.backend.runtime-path": "/usr/bin/python3",
    "ai.backend.service-ports": "jupyter:http:8080,ttyd:http:[7681,7682]",
    "ai.backend.resource.min.cpu": "1",
    "ai.backend.resource.min.mem": "512m",
}


def _blob(layout: Path, data: bytes, media_type: str) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _layer() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tar.gettarinfo(str(BUSYBOX), arcname="bin/busybox")
        info.mtime = 0
        with BUSYBOX.open("rb") as f:
            tar.addfile(info, f)
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
        tar.addfile(link)
    return gzip.compress(raw.getvalue(), mtime=0)


def _manifest(
    layout: Path, layer: bytes, arch: str, labels: Mapping[str, str]
) -> dict[str, object]:
    diff_id = hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Labels": dict(labels), "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _blob(layout, json.dumps(config).encode(), OCI_CONFIG),
        "layers": [_blob(layout, layer, OCI_LAYER)],
    }
    return _blob(layout, json.dumps(manifest).encode(), OCI_MANIFEST)


def build_layout(
    layout: Path, images: Mapping[str, tuple[Sequence[str], Mapping[str, str]]]
) -> None:
    """An OCI layout with one entry per name: a plain manifest for one architecture, an index
    (multi-arch) for several."""
    shutil.rmtree(layout, ignore_errors=True)
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    layer = _layer()
    entries = []
    for name, (archs, labels) in images.items():
        manifests = [_manifest(layout, layer, arch, labels) for arch in archs]
        if len(manifests) == 1:
            entry = dict(manifests[0])
        else:
            for manifest, arch in zip(manifests, archs, strict=True):
                manifest["platform"] = {"architecture": arch, "os": "linux"}
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
            entry = _blob(layout, json.dumps(index).encode(), OCI_INDEX)
        entry["annotations"] = {"org.opencontainers.image.ref.name": name}
        entries.append(entry)
    index = {"schemaVersion": 2, "manifests": entries}
    (layout / "index.json").write_text(json.dumps(index))


def push(
    layout: Path, name: str, destination: str, *, docker_format: bool = False, creds: str = ""
) -> None:
    """skopeo copy oci:LAYOUT:NAME docker://DESTINATION (plain HTTP, all architectures).

    `docker_format` converts to Docker v2 manifests and manifest lists on the way."""
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--all",
            *(["--format", "v2s2"] if docker_format else []),
            *([f"--dest-creds={creds}"] if creds else []),
            "--dest-tls-verify=false",
            f"oci:{layout}:{name}",
            f"docker://{destination}",
        ],
        check=True,
        capture_output=True,
    )
