"""An in-memory pipeline for tests: the OpenTelemetry SDK exporting into a list (STYLE rule 15)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.config import TelemetrySettings
from orchestrator.telemetry.otel import OtelTelemetry, build_sdk_pipeline

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def in_memory_pipeline(
    service_name: str = "orchestrator-test", *, chunk_events: bool = False
) -> tuple[OtelTelemetry, InMemorySpanExporter]:
    """A pipeline whose finished spans land, synchronously, in the returned exporter.

    Returns:
        ``(pipeline, exporter)``; ``exporter.get_finished_spans()`` lists the spans.
    """
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    pipeline = build_sdk_pipeline(
        TelemetrySettings(chunk_events=chunk_events), service_name, span_exporter=exporter
    )
    return pipeline, exporter


__all__ = ["in_memory_pipeline"]
