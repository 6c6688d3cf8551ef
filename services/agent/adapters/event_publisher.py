"""Kernel lifecycle events as shipyard.events.v1.Event on a Redis stream."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp
from redis.exceptions import RedisError
from shipyard.events.v1 import events_pb2

from libs.core.agent_credentials import event_fields
from libs.core.errors import Unavailable
from libs.core.ids import new_id
from libs.events.stream_publisher import StreamPublisher
from services.agent.adapters.registry_client import AgentCredential
from services.agent.service.outbound import KernelEvent, Phase

_PHASES = {
    Phase.CREATING: events_pb2.KernelLifecycle.PHASE_CREATING,
    Phase.PULLING: events_pb2.KernelLifecycle.PHASE_PULLING,
    Phase.STARTED: events_pb2.KernelLifecycle.PHASE_STARTED,
    Phase.CREATE_FAILED: events_pb2.KernelLifecycle.PHASE_CREATE_FAILED,
    Phase.TERMINATED: events_pb2.KernelLifecycle.PHASE_TERMINATED,
}


def kernel_stream(prefix: str) -> str:
    return f"{prefix}events:kernel"


def to_event(event: KernelEvent, credential: AgentCredential | None = None) -> events_pb2.Event:
    """The event, signed with the agent's credential when it has one (docs/access.md)."""
    create_time = Timestamp()
    create_time.GetCurrentTime()
    message = events_pb2.Event(
        event_id=new_id(),
        create_time=create_time,
        trace_context=dict(event.trace_context),
        kernel_lifecycle=events_pb2.KernelLifecycle(
            kernel_id=event.kernel_id,
            session_id=event.session_id,
            agent_id=event.agent_id,
            phase=_PHASES[event.phase],
            reason=event.reason,
            exit_code=event.exit_code,
            message=event.message,
        ),
    )
    if credential is not None and credential.secret:
        k = message.kernel_lifecycle
        k.signature = credential.sign(
            event_fields(
                message.event_id,
                k.kernel_id,
                k.session_id,
                k.agent_id,
                k.phase,
                k.reason,
                k.exit_code,
                k.message,
            )
        )
    return message


class RedisKernelEventPublisher:
    """EventPublisher on `<prefix>events:kernel`."""

    def __init__(
        self,
        publisher: StreamPublisher,
        *,
        timeout: float = 5.0,
        credential: AgentCredential | None = None,
    ) -> None:
        self._publisher = publisher
        self._timeout = timeout
        self._credential = credential

    async def publish(self, event: KernelEvent, credential: AgentCredential | None = None) -> None:
        """Publish, signed with `credential` (or this agent's own)."""
        try:
            async with asyncio.timeout(self._timeout):
                # Signed once registered; before the first registration nothing waits (kernels
                # run while the registry is down) and the registry drops the unsigned event; the
                # reconciliation re-queues a start whose events were dropped (docs/access.md).
                message = to_event(event, credential or self._credential)
                await self._publisher.publish(message.event_id, message.SerializeToString())
        except (RedisError, OSError, TimeoutError) as exc:
            raise Unavailable(f"cannot publish a kernel event: {exc}") from exc

    async def publish_together(self, events: Sequence[KernelEvent]) -> None:
        """Publish in order, all or none, for the registry to read (and apply) together."""
        try:
            async with asyncio.timeout(self._timeout):
                messages = [to_event(e, self._credential) for e in events]
                await self._publisher.publish_together(
                    [(m.event_id, m.SerializeToString()) for m in messages]
                )
        except (RedisError, OSError, TimeoutError) as exc:
            raise Unavailable(f"cannot publish kernel events: {exc}") from exc
