"""Placement by image: which agents can run it, which need no pull, and why none can."""

from __future__ import annotations

from collections.abc import Sequence

from services.scheduler.domain.model import (
    NO_IMAGE_CAPABLE_AGENT,
    NO_MATCHING_ARCHITECTURE,
    Agent,
    PendingSession,
    Unschedulable,
)


def with_image_first(session: PendingSession, candidates: list[Agent]) -> list[Agent]:
    """Agents that already have the image, when there are any: no pull before the start."""
    if not session.image:
        return candidates
    present = [a for a in candidates if session.image in a.images]
    return present or candidates


def image_mismatch(session: PendingSession, agents: Sequence[Agent]) -> Unschedulable | None:
    """Why no live agent of the group could ever run the session's image, or None when some
    could (then the shortage is capacity)."""
    alive = [a for a in agents if a.alive]
    if session.architectures:
        matching = [a for a in alive if a.architecture in session.architectures]
        if not matching:
            offered = sorted({a.architecture or "unknown" for a in alive})
            return Unschedulable(
                session_id=session.session_id,
                reason=NO_MATCHING_ARCHITECTURE,
                message=(
                    f"image {session.image} exists for {', '.join(sorted(session.architectures))};"
                    f" live agents of resource group {session.resource_group!r} run "
                    f"{', '.join(offered) or 'nothing'}"
                ),
            )
        alive = matching
    if alive and not any(a.can_run(session.image) for a in alive):
        return Unschedulable(
            session_id=session.session_id,
            reason=NO_IMAGE_CAPABLE_AGENT,
            message=(
                f"no agent of resource group {session.resource_group!r} has image "
                f"{session.image} and none can pull it (backends: "
                f"{', '.join(sorted({a.backend or 'unknown' for a in alive}))})"
            ),
        )
    return None
