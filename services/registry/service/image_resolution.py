"""CreateSession's image: alias or reference → a known canonical image; its minimums checked.

An image is known when a rescan found it (per architecture, with its labels) or when an agent
reports it in its inventory (e.g. the process backend's built-in image; no labels then).
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.slots import ResourceSlots
from services.registry.domain.errors import BelowImageMinimum, ImageNotFound
from services.registry.domain.image_labels import SERVICE_PORTS
from services.registry.domain.image_ref import BadReference, canonical
from services.registry.domain.images import ResolvedImage
from services.registry.service.image_ports import ImageStore


@dataclass(frozen=True, slots=True)
class ImageResolver:
    store: ImageStore

    async def resolve(self, requested: str) -> ResolvedImage:
        target = await self.store.alias_target(requested)
        if target is None:
            try:
                target = canonical(requested)
            except BadReference as exc:
                raise InvalidArgument(
                    f"image: {exc}", violations=[FieldViolation("image", str(exc))]
                ) from None
        images = await self.store.by_name(target)
        minimums = {i.architecture: ResourceSlots(i.spec.min_resources) for i in images}
        archs = set(minimums) | set(await self.store.agent_architectures(target))
        if not archs:
            raise ImageNotFound(
                f"image {requested!r} ({target}) is unknown: no alias, no rescan found it and "
                "no agent has it; see GET /v1/images",
                violations=[FieldViolation("image", f"unknown image {requested!r}")],
                metadata={"field": "image", "image": target},
            )
        ports = next((i.labels[SERVICE_PORTS] for i in images if SERVICE_PORTS in i.labels), "")
        return ResolvedImage(
            canonical=target,
            architectures=tuple(sorted(archs)),
            minimums=minimums,
            service_ports=ports,
        )


def check_minimums(image: ResolvedImage, slots: ResourceSlots) -> None:
    """The request must meet the image's ai.backend.resource.min.* of at least one of its
    architectures (agents reporting it without labels impose none)."""
    if len(image.minimums) < len(image.architectures):
        return  # an architecture without labelled minimums accepts any request
    failures: list[FieldViolation] = []
    for minimum in image.minimums.values():
        short = [(slot, amount) for slot, amount in minimum.items() if slots[slot] < amount]
        if not short:
            return
        failures = [
            FieldViolation(
                f"resources.{slot}",
                f"image {image.canonical} needs at least {amount} {slot}, got {slots[slot]}",
            )
            for slot, amount in short
        ]
    raise BelowImageMinimum("; ".join(v.description for v in failures), violations=failures)
