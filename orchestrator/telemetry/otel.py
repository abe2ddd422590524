"""The OpenTelemetry pipeline: the SDK with an OTLP, console or given exporter, or no SDK at all.

The SDK and its exporters are imported only when a pipeline is built (:func:`build_sdk_pipeline`),
so that a process with ``ORCH_TELEMETRY__EXPORTER=none`` loads nothing but the API.
OTLP goes to Elastic APM Server (``/v1/traces`` on its port; see ``shared/notes`` §7 for why
the EDOT collector is the direction for new stacks), an EDOT or upstream collector, or any OTLP
backend.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer, format_span_id, format_trace_id

from orchestrator.config import TelemetrySettings
from orchestrator.errors import ConfigError
from orchestrator.telemetry.base import Attributes, TelemetryKind, epoch_ns

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

INSTRUMENTATION_NAME = "agent-orchestrator"
"""The instrumentation scope of every span this project makes."""


def package_version() -> str:
    """The installed ``agent-orchestrator`` version (``0.0.0`` when run from a bare checkout)."""
    try:
        return importlib.metadata.version("agent-orchestrator")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


class OtelTelemetry:
    """Spans through an OpenTelemetry ``TracerProvider``, or through the API alone.

    Args:
        provider: The SDK provider this pipeline owns; ``None`` uses the global provider (a no-op
            unless something installed one), which is what ``exporter=none`` means.
        chunk_events: Record streamed chunks as span events.
    """

    def __init__(self, provider: TracerProvider | None = None, *, chunk_events: bool = False) -> None:
        self.provider = provider
        self.kind: TelemetryKind = "otel" if provider is not None else "none"
        self.chunk_events = chunk_events
        self._tracer: Tracer = (
            provider.get_tracer(INSTRUMENTATION_NAME, package_version())
            if provider is not None
            else trace.get_tracer(INSTRUMENTATION_NAME, package_version())
        )

    @property
    def tracer(self) -> Tracer:
        """The provider's tracer."""
        return self._tracer

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
        """See :meth:`Telemetry.start_span <orchestrator.telemetry.base.Telemetry.start_span>`."""
        ctx = trace.set_span_in_context(parent) if parent is not None else context
        return self._tracer.start_span(
            name, context=ctx, kind=kind, attributes=attributes, start_time=epoch_ns(start_time)
        )

    def end_span(self, span: Span, end_time: float | None = None) -> None:
        """End ``span`` at ``end_time`` (epoch seconds) or now."""
        span.end(end_time=epoch_ns(end_time))

    def activate(self, span: Span) -> object:
        """Attach ``span`` to the current (task-local) OpenTelemetry context."""
        return otel_context.attach(trace.set_span_in_context(span))

    def deactivate(self, token: object) -> None:
        """Detach what :meth:`activate` attached."""
        otel_context.detach(token)  # type: ignore[arg-type]

    def inject(self, span: Span) -> dict[str, str]:
        """W3C ``traceparent``/``tracestate`` of ``span`` (the global propagator's fields)."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        return carrier

    def extract(self, carrier: Mapping[str, str] | None) -> Context:
        """The remote parent named by ``carrier``."""
        return propagate.extract(dict(carrier or {}))

    def current_ids(self) -> tuple[str, str] | None:
        """Trace and span id of the current OpenTelemetry span."""
        sc = trace.get_current_span().get_span_context()
        if not sc.is_valid:
            return None
        return format_trace_id(sc.trace_id), format_span_id(sc.span_id)

    def flush(self, timeout_seconds: float = 5.0) -> bool:
        """Force the span processors to export."""
        if self.provider is None:
            return True
        return bool(self.provider.force_flush(int(timeout_seconds * 1000)))

    def shutdown(self) -> None:
        """Flush and shut the provider down."""
        if self.provider is not None:
            self.provider.shutdown()


def parse_headers(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (values URL-encoded) as a dict, like ``OTEL_EXPORTER_OTLP_HEADERS``.

    Source: OpenTelemetry specification, "OTLP Exporter Configuration", Specifying headers.
    """
    headers: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            headers[key.strip().lower()] = unquote(value.strip())
    return headers


def _otlp_exporter(settings: TelemetrySettings) -> SpanExporter:
    headers = (
        parse_headers(settings.otlp_headers.get_secret_value()) if settings.otlp_headers else None
    )
    endpoint = settings.otlp_endpoint
    exporter: Any
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        exporter = GrpcExporter(
            endpoint=endpoint, headers=headers, timeout=settings.otlp_timeout_seconds
        )
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        if endpoint and not endpoint.rstrip("/").endswith("/v1/traces"):
            # An explicit endpoint is used as is (only the env var gets the path appended).
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        exporter = HttpExporter(
            endpoint=endpoint, headers=headers, timeout=settings.otlp_timeout_seconds
        )
    result: SpanExporter = exporter
    return result


def build_sdk_pipeline(
    settings: TelemetrySettings,
    service_name: str,
    *,
    span_exporter: SpanExporter | None = None,
) -> OtelTelemetry:
    """Build an SDK ``TracerProvider`` with the configured exporter.

    Args:
        settings: ``exporter`` is ``console`` or ``otlp`` (or anything, with ``span_exporter``).
        service_name: ``service.name`` unless ``settings.service_name`` or ``OTEL_SERVICE_NAME``
            says otherwise.
        span_exporter: Export here instead, synchronously (tests: ``InMemorySpanExporter``).

    Returns:
        The pipeline; its provider is not installed as the global one (see
        :func:`~orchestrator.telemetry.setup.setup_telemetry`).

    Raises:
        ConfigError: The SDK or the exporter's package is not installed.
    """
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        processor: SpanProcessor
        if span_exporter is not None:
            processor = SimpleSpanProcessor(span_exporter)
        elif settings.exporter == "console":
            processor = SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout))
        else:
            # Batched: export never blocks a step; flush() before a one-job pod exits.
            processor = BatchSpanProcessor(_otlp_exporter(settings))
    except ImportError as exc:
        raise ConfigError(
            f"ORCH_TELEMETRY__EXPORTER={settings.exporter} needs the OpenTelemetry SDK and "
            f"exporters: pip install 'agent-orchestrator[telemetry]' ({exc.name} is missing)",
            details={"setting": "ORCH_TELEMETRY__EXPORTER", "missing": exc.name},
        ) from exc
    attributes: dict[str, Any] = {
        "service.name": settings.service_name or service_name,
        "service.version": package_version(),
    }
    if settings.environment:
        attributes["deployment.environment.name"] = settings.environment
    provider = TracerProvider(
        resource=Resource.create(attributes),
        sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
    )
    provider.add_span_processor(processor)
    return OtelTelemetry(provider, chunk_events=settings.chunk_events)


__all__ = ["INSTRUMENTATION_NAME", "OtelTelemetry", "build_sdk_pipeline", "parse_headers"]
