"""(g) The fixed cost of a job: a 1-step job, submit to result, one at a time, after a warm-up.

Every system runs its 1-step chain with a 0-byte output (``chain(1, 0)``: a no-op step). This
project submits and follows it in one authenticated request (``Client.run``: ``POST /v1/jobs``
answered with the job's SSE stream), the PostgreSQL row written as always. One worker.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.adapters.base import System
from benchmarks.workloads.params import Params
from benchmarks.workloads.stats import percentile


async def run(system: System, p: Params) -> dict[str, Any]:
    """Returns ``{samples, p50_ms, p99_ms, mean_ms}``."""
    await system.start_workers(1)
    times: list[float] = []
    try:
        for _ in range(p.fixed_warmup):
            await system.chain(1, 0)
        deadline = time.monotonic() + p.fixed_max_seconds
        while len(times) < p.fixed_samples and time.monotonic() < deadline:
            t0 = time.perf_counter()
            await system.chain(1, 0)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        await system.stop_workers()
    return {
        "samples": len(times),
        "p50_ms": round(percentile(times, 50), 3),
        "p99_ms": round(percentile(times, 99), 3),
        "mean_ms": round(sum(times) / len(times), 3) if times else None,
    }
