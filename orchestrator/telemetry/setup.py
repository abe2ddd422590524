"""``setup_telemetry``: build this process's one tracing pipeline from settings.

Like OpenTelemetry's global tracer provider, the pipeline is process state: it is chosen once at
the entry point (``orchestrator gateway``, ``worker``, ``dev``) and read by the code that makes
spans through :func:`current`. Before any set-up, :func:`current` is a pipeline that records
nothing, so libraries and tests work without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry import trace

from orchestrator.config import Settings
from orchestrator.telemetry.base import Telemetry
from orchestrator.telemetry.otel import OtelTelemetry, build_sdk_pipeline

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

_NOOP: Telemetry = OtelTelemetry(None)
_current: Telemetry = _NOOP


def current() -> Telemetry:
    """The pipeline set up for this process (one that records nothing before set-up)."""
    return _current


def setup_telemetry(
    settings: Settings,
    service_name: str,
    *,
    span_exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> Callable[[], None]:
    """Build the pipeline ``settings.telemetry.exporter`` names and make it :func:`current`.

    Args:
        settings: The process's settings (``telemetry`` section).
        service_name: Default ``service.name`` (``orchestrator-gateway``, ``-worker``, ``-dev``).
        span_exporter: Use the OpenTelemetry SDK with this exporter, whatever ``exporter`` says
            (tests pass an ``InMemorySpanExporter``).
        set_global: Also install an SDK provider as OpenTelemetry's global one (once per
            process), so that spans made by step code through ``opentelemetry.trace`` join the
            step's span. Tests that build several pipelines pass ``False``.

    Returns:
        A callable that flushes and shuts the pipeline down, then restores the no-op pipeline.
        Call it before the process exits: a one-job pod loses its buffered spans otherwise.

    Raises:
        ConfigError: The chosen exporter's packages are not installed.
    """
    global _current
    cfg = settings.telemetry
    pipeline: Telemetry
    if span_exporter is not None or cfg.exporter in ("console", "otlp"):
        sdk = build_sdk_pipeline(cfg, service_name, span_exporter=span_exporter)
        if set_global and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            assert sdk.provider is not None
            trace.set_tracer_provider(sdk.provider)
        pipeline = sdk
    elif cfg.exporter == "elastic-apm":
        from orchestrator.telemetry.elastic import build_elastic_pipeline

        pipeline = build_elastic_pipeline(cfg, service_name)
    else:
        pipeline = OtelTelemetry(None, chunk_events=cfg.chunk_events)
    _current = pipeline

    def shutdown() -> None:
        global _current
        try:
            pipeline.shutdown()
        finally:
            if _current is pipeline:
                _current = _NOOP

    return shutdown


__all__ = ["current", "setup_telemetry"]
