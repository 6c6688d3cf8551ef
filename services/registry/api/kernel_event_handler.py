"""Entry point for kernel lifecycle events read from the Redis stream."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, StatusCode
from opentelemetry.trace import Status as SpanStatus
from shipyard.events.v1 import events_pb2

from libs.telemetry.tracing import detach
from services.registry.domain.agent_auth import AgentAuth
from services.registry.domain.model import Status
from services.registry.service.kernel_events import ApplyKernelEvent
from services.registry.service.session_ports import KernelReport

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
        decoded = self._decode(event_id, data)
        if decoded is None:
            return
        report, parent = decoded
        # Continue the agent's trace across the stream hop.
        token = otel_context.attach(parent)
        try:
            with tracer.start_as_current_span(_span_name(report)) as span:
                _describe(span, report)
                await self._apply(report)
        finally:
            detach(token)

    async def batch(self, entries: Sequence[tuple[str, bytes]]) -> None:
        """Apply many events in one transaction, each still with its own span in its agent's
        trace. Raises if one of them cannot be applied (the consumer then goes one by one)."""
        reports: list[KernelReport] = []
        spans: list[Span] = []
        try:
            for event_id, data in entries:
                decoded = self._decode(event_id, data)
                if decoded is None:
                    continue
                report, parent = decoded
                span = tracer.start_span(_span_name(report), context=parent)
                spans.append(span)
                _describe(span, report)
                carrier: dict[str, str] = {}
                propagate.inject(carrier, context=trace.set_span_in_context(span, parent))
                reports.append(replace(report, trace=carrier))
            await self._apply.apply_batch(reports)
        except Exception as exc:
            for span in spans:
                span.set_status(SpanStatus(StatusCode.ERROR, f"batch failed: {exc}"))
            raise
        finally:
            for span in spans:
                span.end()

    def _decode(self, event_id: str, data: bytes) -> tuple[KernelReport, Context] | None:
        """The report an entry carries and its agent's trace; None for entries to skip."""
        event = events_pb2.Event.FromString(data)
        if event.WhichOneof("payload") != "kernel_lifecycle":
            return None
        k = event.kernel_lifecycle
        meaning = _MEANING.get(k.phase)
        if meaning is None:
            return None
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
            return None
        status, default_reason = meaning
        report = KernelReport(
            event_id=event_id or event.event_id,
            kernel_id=k.kernel_id,
            session_id=k.session_id,
            agent_id=k.agent_id,
            status=status,
            reason=k.reason or default_reason,
            exit_code=k.exit_code if k.phase == Lifecycle.PHASE_TERMINATED else None,
            message=k.message,
        )
        return report, propagate.extract(dict(event.trace_context))


_PHASE_OF = {status: phase for phase, (status, _) in _MEANING.items()}


def _span_name(report: KernelReport) -> str:
    return f"kernel {Lifecycle.Phase.Name(_PHASE_OF[report.status])}"


def _describe(span: Span, report: KernelReport) -> None:
    span.set_attribute("shipyard.kernel_id", report.kernel_id)
    span.set_attribute("shipyard.agent_id", report.agent_id)
    span.set_attribute("shipyard.event_id", report.event_id)
