"""Entry point for kernel lifecycle events read from the Redis stream."""

from __future__ import annotations

import logging

from opentelemetry import trace
from shipyard.events.v1 import events_pb2

from libs.telemetry.tracing import attach_trace_context, detach
from services.registry.domain.agent_auth import AgentAuth
from services.registry.domain.model import Status
from services.registry.service.kernel_events import ApplyKernelEvent, KernelReport

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Lifecycle = events_pb2.KernelLifecycle
# What each phase of the protocol means for the kernel, and the reason when the agent gave none.
_MEANING: dict[int, tuple[Status, str]] = {
    Lifecycle.PHASE_CREATING: (Status.PREPARING, "creating"),
    Lifecycle.PHASE_PULLING: (Status.PULLING, "pulling"),
    Lifecycle.PHASE_STARTED: (Status.RUNNING, "started"),
    Lifecycle.PHASE_CREATE_FAILED: (Status.CANCELLED, "failed-to-start"),
    Lifecycle.PHASE_TERMINATED: (Status.TERMINATED, "terminated-unknown"),
}


class KernelEventHandler:
    """Applies kernel events; with `auth`, only those signed by the agent they name."""

    def __init__(self, apply: ApplyKernelEvent, auth: AgentAuth | None = None) -> None:
        self._apply = apply
        self._auth = auth

    async def __call__(self, event_id: str, data: bytes) -> None:
        event = events_pb2.Event.FromString(data)
        if event.WhichOneof("payload") != "kernel_lifecycle":
            return
        k = event.kernel_lifecycle
        meaning = _MEANING.get(k.phase)
        if meaning is None:
            return
        if self._auth is not None and not self._auth.event_is_genuine(
            event_id=event.event_id,
            kernel_id=k.kernel_id,
            session_id=k.session_id,
            agent_id=k.agent_id,
            phase=k.phase,
            reason=k.reason,
            exit_code=k.exit_code,
            message=k.message,
            signature=k.signature,
        ):
            log.warning(
                "dropping kernel event %s for %s: not signed by agent %r",
                event_id,
                k.kernel_id,
                k.agent_id,
            )
            return
        status, default_reason = meaning
        # Continue the agent's trace across the stream hop.
        token = attach_trace_context(dict(event.trace_context))
        try:
            with tracer.start_as_current_span(f"kernel {Lifecycle.Phase.Name(k.phase)}") as span:
                span.set_attribute("shipyard.kernel_id", k.kernel_id)
                span.set_attribute("shipyard.agent_id", k.agent_id)
                span.set_attribute("shipyard.event_id", event_id)
                await self._apply(
                    KernelReport(
                        event_id=event_id or event.event_id,
                        kernel_id=k.kernel_id,
                        session_id=k.session_id,
                        agent_id=k.agent_id,
                        status=status,
                        reason=k.reason or default_reason,
                        exit_code=k.exit_code if k.phase == Lifecycle.PHASE_TERMINATED else None,
                        message=k.message,
                    )
                )
        finally:
            detach(token)
