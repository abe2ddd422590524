"""Prometheus metrics of the gateway (``/metrics``), on prometheus-client's default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

JOBS_SUBMITTED = Counter(
    "orchestrator_jobs_submitted_total", "Jobs accepted by POST /v1/jobs.", ["workflow"]
)
QUEUE_DEPTH = Gauge(
    "orchestrator_queue_depth", "Due-or-running arq jobs (ZCOUNT arq:queue -inf now)."
)
STREAM_CLIENTS = Gauge(
    "orchestrator_stream_clients", "Connected SSE and WebSocket clients.", ["transport"]
)

__all__ = ["JOBS_SUBMITTED", "QUEUE_DEPTH", "STREAM_CLIENTS"]
