"""The telemetry seam: one tracing pipeline per process, behind the OpenTelemetry API (DESIGN §9).

Code that makes spans (the gateway's submit, the worker's tracing hook) talks to a
:class:`Telemetry`, never to an SDK or an agent, so that the pipeline is chosen by configuration:

- :class:`~orchestrator.telemetry.otel.OtelTelemetry`: the OpenTelemetry SDK with an exporter
  (OTLP, console, or an in-memory one in tests), or no SDK at all (``exporter=none``: spans are
  not recorded, W3C trace context still flows through).
- :class:`~orchestrator.telemetry.elastic.ElasticTelemetry`: the classic Elastic APM agent through
  its OpenTelemetry bridge. The bridge keeps its own context (``shared/notes/keda-arq-k8s.md``
  §7), which is why propagation and activation go through this seam with explicit spans.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

TelemetryKind = Literal["none", "otel", "elastic-apm"]
"""Which pipeline a process runs: no recording, the OpenTelemetry SDK, or the Elastic agent."""

Attributes = Mapping[str, AttributeValue]
"""Span attributes: str, bool, int, float or homogeneous sequences of them."""


class Telemetry(Protocol):
    """A process's tracing pipeline.

    Attributes:
        kind: ``none``, ``otel`` or ``elastic-apm``.
        chunk_events: Whether streamed chunks become span events.
        tracer: The OpenTelemetry-API tracer of this pipeline.
    """

    kind: TelemetryKind
    chunk_events: bool

    @property
    def tracer(self) -> Tracer:
        """The tracer spans are made with (the bridge's tracer under ``elastic-apm``)."""
        ...

    def start_span(
        self,
        name: str,
        *,
        parent: Span | None = None,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes | None = None,
        start_time: float | None = None,
    ) -> Span:
        """Start a span without making it current.

        Args:
            name: Span name.
            parent: The parent span; wins over ``context``.
            context: A context holding the parent (e.g. from :meth:`extract`); neither means the
                current context.
            kind: The span kind.
            attributes: Initial attributes.
            start_time: Epoch seconds; ``None`` means now.
        """
        ...

    def end_span(self, span: Span, end_time: float | None = None) -> None:
        """End ``span``, at ``end_time`` (epoch seconds) or now."""
        ...

    def activate(self, span: Span) -> object:
        """Make ``span`` current in this task's context; returns a token for :meth:`deactivate`."""
        ...

    def deactivate(self, token: object) -> None:
        """Restore the context :meth:`activate` replaced (in the same task)."""
        ...

    def inject(self, span: Span) -> dict[str, str]:
        """The W3C trace context (``traceparent``, ``tracestate``) naming ``span`` as parent."""
        ...

    def extract(self, carrier: Mapping[str, str] | None) -> Context:
        """A context whose parent is the remote span named by ``carrier`` (empty if none)."""
        ...

    def current_ids(self) -> tuple[str, str] | None:
        """``(trace_id, span_id)`` in lowercase hex of the current span, if there is one."""
        ...

    def flush(self, timeout_seconds: float = 5.0) -> bool:
        """Export buffered spans now; ``False`` when the timeout passed first."""
        ...

    def shutdown(self) -> None:
        """Flush and release the exporter; the pipeline records nothing afterwards."""
        ...


def epoch_ns(seconds: float | None) -> int | None:
    """Epoch seconds as the integer nanoseconds OpenTelemetry timestamps use."""
    return None if seconds is None else int(seconds * 1e9)


__all__ = ["Attributes", "Telemetry", "TelemetryKind", "epoch_ns"]
