"""(a) A no-op diamond A → {B, C} → D, one job at a time: submit-to-result p50/p99 after a
warm-up, and the time inside the worker alone. One warm worker process."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.adapters.base import System
from benchmarks.workloads.params import Params
from benchmarks.workloads.stats import summary_ms


async def run(system: System, p: Params) -> dict[str, Any]:
    """Returns ``{samples, capped, p50_ms, p99_ms, ..., inside: {...}, raw_ms}``."""
    await system.start_workers(1)
    try:
        warm_until = time.monotonic() + p.diamond_max_seconds / 10
        for _ in range(p.diamond_warmup):
            await system.diamond()
            if time.monotonic() > warm_until:
                break  # a system polling at 0.5-1 s is warm after a few jobs
        e2e: list[float] = []
        inside: list[float] = []
        deadline = time.monotonic() + p.diamond_max_seconds
        while len(e2e) < p.diamond_samples and time.monotonic() < deadline:
            t0 = time.perf_counter()
            in_worker = await system.diamond()
            e2e.append(time.perf_counter() - t0)
            if in_worker is not None:
                inside.append(in_worker)
    finally:
        await system.stop_workers()
    return {
        "samples": len(e2e),
        "capped": len(e2e) < p.diamond_samples,
        **summary_ms(e2e),
        "inside": summary_ms(inside) if inside else None,
        "raw_ms": [round(s * 1000, 3) for s in e2e],
    }
