"""(b) Single-step no-op jobs: the enqueue rate (no worker running), then the drain rate of two
worker processes started on the full queue.

The enqueue is the system's submit path with a measuring client that is not the bottleneck: this
project's gateway is fed by raw HTTP clients in a child process (16 in flight), then timed again
through its SDK (``enqueue_sdk_per_s``, 2,000 submits); the peers enqueue with their own client
libraries (arq's, Celery's), which are their submit path.

The drain is timed from the first job seen finished to the last, polling the system's own count
every 5 ms, so worker start-up is not counted: rate = jobs finished in that span / its length.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.adapters.base import System
from benchmarks.workloads.params import Params

SDK_SUBMITS = 2000
"""Submits also timed through a system's own client library, where the enqueue's measuring
client is not it (this project: raw HTTP clients in a child process, then its SDK)."""


async def run(system: System, p: Params) -> dict[str, Any]:
    """Returns ``{jobs, enqueue_per_s, [enqueue_sdk_per_s,] drain_per_s, drained, timed_out}``."""
    n = p.noop_jobs
    t0 = time.perf_counter()
    await system.enqueue_noops(n)
    enqueue_s = time.perf_counter() - t0
    sdk: dict[str, Any] = {}
    via_sdk = getattr(system, "enqueue_noops_sdk", None)
    if via_sdk is not None:  # the same submits through the system's own client library
        m = min(n, SDK_SUBMITS)
        t0 = time.perf_counter()
        await via_sdk(m)
        sdk = {"enqueue_sdk_jobs": m, "enqueue_sdk_per_s": round(m / (time.perf_counter() - t0), 1)}
    queued = await system.noops_remaining()
    first_at: float | None = None
    left_at_first = queued
    await system.start_workers(p.noop_workers)
    try:
        deadline = time.monotonic() + p.drain_max_seconds
        left = queued
        while left > 0 and time.monotonic() < deadline:
            left = await system.noops_remaining()
            now = time.perf_counter()
            if first_at is None and left < queued:
                first_at, left_at_first = now, left
            await asyncio.sleep(0.005)
        end = time.perf_counter()
    finally:
        await system.stop_workers()
    span = (end - first_at) if first_at is not None else float("nan")
    done = left_at_first - left
    return {
        "jobs": n,
        "queued_before_drain": queued,
        "enqueue_s": round(enqueue_s, 3),
        "enqueue_per_s": round(n / enqueue_s, 1),
        **sdk,
        "drain_s": round(span, 3),
        "drain_per_s": round(done / span, 1) if span and span > 0 else None,
        "drained": queued - left,
        "timed_out": left > 0,
    }
