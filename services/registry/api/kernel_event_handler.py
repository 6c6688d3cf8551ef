"""Entry point for kernel lifecycle events read from the Redis stream."""

from __future__ import annotations

from opentelemetry import trace
from shipyard.events.v1 import events_pb2

from libs.telemetry.tracing import attach_trace_context, detach
from services.registry.service.kernel_events import ApplyKernelEvent, known_phase

tracer = trace.get_tracer(__name__)


class KernelEventHandler:
    def __init__(self, apply: ApplyKernelEvent) -> None:
        self._apply = apply

    async def __call__(self, event_id: str, data: bytes) -> None:
        event = events_pb2.Event.FromString(data)
        if event.WhichOneof("payload") != "kernel_lifecycle":
            return
        k = event.kernel_lifecycle
        if not known_phase(k.phase):
            return
        # Continue the agent's trace across the stream hop.
        token = attach_trace_context(dict(event.trace_context))
        try:
            name = events_pb2.KernelLifecycle.Phase.Name(k.phase)
            with tracer.start_as_current_span(f"kernel {name}") as span:
                span.set_attribute("shipyard.kernel_id", k.kernel_id)
                span.set_attribute("shipyard.agent_id", k.agent_id)
                span.set_attribute("shipyard.event_id", event_id)
                await self._apply(event_id or event.event_id, k)
        finally:
            detach(token)
