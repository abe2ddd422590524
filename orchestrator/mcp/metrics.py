"""Prometheus metrics of tool calls (prometheus-client's default registry; DESIGN §9, §14)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TOOL_CALLS = Counter(
    "orchestrator_tool_calls_total",
    "MCP tool calls made by this process, by server, tool and outcome (ok, is_error, or an "
    "error code such as tool_timeout).",
    ["server", "tool", "outcome"],
)
TOOL_ERRORS = Counter(
    "orchestrator_tool_errors_total",
    "MCP tool calls that failed (not counting results marked is_error), by server, tool, code.",
    ["server", "tool", "code"],
)
TOOL_LATENCY = Histogram(
    "orchestrator_tool_call_duration_seconds",
    "Wall time of MCP tool calls that reached their server, by server and tool.",
    ["server", "tool"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

__all__ = ["TOOL_CALLS", "TOOL_ERRORS", "TOOL_LATENCY"]
