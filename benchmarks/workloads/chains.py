"""(d) Chains of 1, 10 and 100 steps with 100 B, 10 KB and 1 MB outputs: the per-step overhead
is the slope of a least-squares line through (length, median time). One worker process."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from benchmarks.adapters.base import System
from benchmarks.workloads.params import Params
from benchmarks.workloads.stats import fit_line


async def run(system: System, p: Params) -> dict[str, Any]:
    """Returns ``{by_size: {size: {times_ms: {length: ms}, per_step_ms, intercept_ms}}}``."""
    by_size: dict[str, Any] = {}
    await system.start_workers(1)
    try:
        await system.chain(1, 100)  # warm-up
        deadline = time.monotonic() + p.chain_max_seconds
        for size in p.chain_sizes:
            medians: dict[int, float] = {}
            for length in p.chain_lengths:
                if time.monotonic() > deadline:
                    break
                runs = []
                for _ in range(p.chain_reps):
                    t0 = time.perf_counter()
                    await asyncio.wait_for(system.chain(length, size), p.chain_max_seconds)
                    runs.append(time.perf_counter() - t0)
                medians[length] = statistics.median(runs)
            xs = list(medians)
            slope, intercept = fit_line(xs, [medians[x] for x in xs])
            by_size[str(size)] = {
                "times_ms": {str(k): round(v * 1000, 3) for k, v in medians.items()},
                "per_step_ms": round(slope * 1000, 3) if len(xs) > 1 else None,
                "intercept_ms": round(intercept * 1000, 3) if len(xs) > 1 else None,
            }
    finally:
        await system.stop_workers()
    return {"lengths": p.chain_lengths, "reps": p.chain_reps, "by_size": by_size}
