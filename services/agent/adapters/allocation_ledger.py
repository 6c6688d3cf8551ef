"""The allocation map on disk (JSON, replaced atomically), for re-deriving it after a restart."""

from __future__ import annotations

import json
import logging
from decimal import Decimal, InvalidOperation
from pathlib import Path

from services.agent.service.ports import HeldDevices

log = logging.getLogger(__name__)


class JsonAllocationLedger:
    def __init__(self, path: Path) -> None:
        self._path = path

    def load(self) -> HeldDevices:
        try:
            raw = json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # Losing the map frees devices of kernels that survived: say so, do not crash.
            log.warning("cannot read the allocation map %s (%s); starting empty", self._path, exc)
            return {}
        try:
            return {
                str(kernel): {
                    str(slot): {str(dev): Decimal(str(amount)) for dev, amount in devs.items()}
                    for slot, devs in slots.items()
                }
                for kernel, slots in raw.items()
            }
        except (AttributeError, InvalidOperation) as exc:
            log.warning("the allocation map %s is malformed (%s); starting empty", self._path, exc)
            return {}

    def save(self, held: HeldDevices) -> None:
        data = {
            kernel: {slot: {dev: str(a) for dev, a in devs.items()} for slot, devs in slots.items()}
            for kernel, slots in held.items()
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True))
        tmp.replace(self._path)
