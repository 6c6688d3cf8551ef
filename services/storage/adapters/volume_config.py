"""The configured volumes (STORAGE_VOLUMES) → volume backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.storage.adapters.local_volume import LocalVolume


class VolumeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-zA-Z0-9._-]{1,64}$")
    backend: Literal["vfs"] = "vfs"
    root: Path
    options: dict[str, str] = Field(default_factory=dict)


_SPECS = TypeAdapter(list[VolumeSpec])


def parse_volumes(raw: str, *, name: str, root: Path) -> list[VolumeSpec]:
    """The volumes in `raw` (a JSON list), or the single one named by `name` and `root`."""
    if not raw.strip():
        return [VolumeSpec(name=name, root=root)]
    try:
        specs = _SPECS.validate_python(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"STORAGE_VOLUMES is not a valid list of volumes: {exc}") from exc
    if not specs:
        raise ValueError("STORAGE_VOLUMES lists no volume")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"STORAGE_VOLUMES names a volume twice: {names}")
    return specs


def build_volume(spec: VolumeSpec) -> LocalVolume:
    return LocalVolume(spec.name, spec.root)
