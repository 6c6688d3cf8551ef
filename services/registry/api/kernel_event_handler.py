"""Entry point for kernel lifecycle events read from the Redis stream."""

from __future__ import annotations

import logging

from opentelemetry import trace
from shipyard.events.v1 import events_pb2

from libs.telemetry.tracing import attach_trace_context, detach
from services.registry.domain.agent_auth import AgentAuth
from services.registry.service.kernel_events import ApplyKernelEvent, KernelEvent, Phase

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

_PHASES = {
    events_pb2.KernelLifecycle.PHASE_CREATING: Phase.CREATING,
    events_pb2.KernelLifecycle.PHASE_PULLING: Phase.PULLING,
    events_pb2.KernelLifecycle.PHASE_STARTED: Phase.STARTED,
    events_pb2.KernelLifecycle.PHASE_CREATE_FAILED: Phase.CREATE_FAILED,
    events_pb2.KernelLifecycle.PHASE_TERMINATED: Phase.TERMINATED,
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
        phase = _PHASES.get(k.phase)
        if phase is None:
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
        # Continue the agent's trace across the stream hop.
        token = attach_trace_context(dict(event.trace_context))
        try:
            with tracer.start_as_current_span(f"kernel {phase.value}") as span:
                span.set_attribute("shipyard.kernel_id", k.kernel_id)
                span.set_attribute("shipyard.event_id", event_id)
                await self._apply(
                    KernelEvent(
                        kernel_id=k.kernel_id,
                        session_id=k.session_id,
                        phase=phase,
                        reason=k.reason,
                        exit_code=k.exit_code,
                        message=k.message,
                    )
                )
        finally:
            detach(token)
