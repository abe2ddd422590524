"""Telemetry: one tracing pipeline per process behind the OpenTelemetry API (DESIGN §9).

``setup_telemetry(settings, service_name)`` at the entry point; :func:`current` wherever spans
are made. Span attribute names are in :mod:`orchestrator.telemetry.attributes`.
"""

from orchestrator.telemetry.base import Telemetry, TelemetryKind, epoch_ns
from orchestrator.telemetry.setup import current, setup_telemetry

__all__ = ["Telemetry", "TelemetryKind", "current", "epoch_ns", "setup_telemetry"]
