"""Workloads (a)-(f) of issue 7 and (g)-(i) of issue 19: each is ``async run(system, params) -> dict``.

The runner starts a system's infrastructure; a workload starts and stops the worker processes it
needs (1, or 2 for throughput and fan-out), so every system gets the same resources.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.adapters.base import System
from benchmarks.workloads import (
    batch_submit,
    chains,
    cold_start,
    crash,
    fanout,
    fixed_cost,
    latency,
    streaming,
    throughput,
)
from benchmarks.workloads.params import Params

Workload = Callable[[System, Params], Awaitable[dict[str, Any]]]

WORKLOADS: dict[str, tuple[str, Workload]] = {
    "a": ("no-op diamond, submit-to-result latency", latency.run),
    "b": ("10,000 single-step jobs: enqueue and drain rate", throughput.run),
    "c": ("fan-out into parallel steps and a join", fanout.run),
    "d": ("chains: per-step overhead by output size", chains.run),
    "e": ("streaming chunks to WebSocket/SSE clients", streaming.run),
    "f": ("kill -9 of the worker mid-chain", crash.run),
    "g": ("1-step no-op job, submit-to-result latency", fixed_cost.run),
    "h": ("cold start: exec of a one-job worker to job.started", cold_start.run),
    "i": ("batched submits: 1,000 jobs per request", batch_submit.run),
}
"""Workload letter → (title, function)."""

__all__ = ["WORKLOADS", "Params", "Workload"]
