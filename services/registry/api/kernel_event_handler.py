"""Entry point for kernel lifecycle events read from the Redis stream."""

from __future__ import annotations

from opentelemetry import trace
from shipyard.events.v1 import events_pb2

from libs.telemetry.tracing import attach_trace_context, detach
from services.registry.service.kernel_events import ApplyKernelEvent, KernelEvent, Phase

tracer = trace.get_tracer(__name__)

_PHASES = {
    events_pb2.KernelLifecycle.PHASE_CREATING: Phase.CREATING,
    events_pb2.KernelLifecycle.PHASE_PULLING: Phase.PULLING,
    events_pb2.KernelLifecycle.PHASE_STARTED: Phase.STARTED,
    events_pb2.KernelLifecycle.PHASE_CREATE_FAILED: Phase.CREATE_FAILED,
    events_pb2.KernelLifecycle.PHASE_TERMINATED: Phase.TERMINATED,
}


class KernelEventHandler:
    def __init__(self, apply: ApplyKernelEvent) -> None:
        self._apply = apply

    async def __call__(self, event_id: str, data: bytes) -> None:
        event = events_pb2.Event.FromString(data)
        if event.WhichOneof("payload") != "kernel_lifecycle":
            return
        k = event.kernel_lifecycle
        phase = _PHASES.get(k.phase)
        if phase is None:
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
