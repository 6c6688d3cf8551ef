"""What the cluster watch tells schedulers of a session that now holds slots.

A batch bind moves ~1,000 sessions to SCHEDULED at once and the watch reports each one as a
slot holder (the limits and preemption count it). Reading whole sessions for that (every
column, every kernel row as JSON) cost the registry more than the bind itself; a holder is
only the columns the scheduler's ActiveSession carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from libs.core.slots import ResourceSlots
from services.registry.domain.model import Session, Status


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotHolder:
    session_id: str
    status: Status
    access_key: str
    project_id: str
    domain_name: str
    owner_user_id: str
    resource_group: str
    requested_slots: ResourceSlots
    priority: int = 0
    preemptible: bool = False
    expected_duration: int = 0
    scheduled_at: datetime | None = None
    # The agents its kernels were bound to, with the slots held on each.
    slots_by_agent: Mapping[str, ResourceSlots] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Session) -> SlotHolder:
        held: dict[str, ResourceSlots] = {}
        for kernel in session.kernels:
            if kernel.agent_id:
                held[kernel.agent_id] = (
                    held.get(kernel.agent_id, ResourceSlots()) + kernel.requested_slots
                )
        return cls(
            session_id=session.session_id,
            status=session.status,
            access_key=session.access_key,
            project_id=session.project_id,
            domain_name=session.domain_name,
            owner_user_id=session.owner_user_id,
            resource_group=session.resource_group,
            requested_slots=session.requested_slots,
            priority=session.scheduling.priority,
            preemptible=session.scheduling.preemptible,
            expected_duration=session.scheduling.expected_duration,
            scheduled_at=session.status_history.get(Status.SCHEDULED.value),
            slots_by_agent=held,
        )


class SlotHolders(Protocol):
    async def get_holders(self, session_ids: Sequence[str]) -> dict[str, SlotHolder]:
        """The sessions among `session_ids` that exist, by id, in one query."""
        ...
