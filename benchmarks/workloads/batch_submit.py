"""(i) Submit rate: ``batch_jobs`` single-step jobs through ``POST /v1/jobs/batch``, 1,000 per
request, 2 requests in flight, no worker running (the single submits' rate, 16 in flight, is
(b)'s enqueue figure). Every job gets its PostgreSQL row and audit row, its live state and its
queue entry, as a single submit's. This project only (the peers have no batch submit over
HTTP). The queued jobs are removed afterwards."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.adapters.base import System
from benchmarks.workloads.params import Params


async def run(system: System, p: Params) -> dict[str, Any]:
    """Returns ``{jobs, batch_size, enqueue_s, enqueue_per_s, queued}``."""
    batch = getattr(system, "enqueue_noops_batched", None)
    if batch is None:
        return {"skipped": "no batch submit"}
    t0 = time.perf_counter()
    await batch(p.batch_jobs, p.batch_size)
    took = time.perf_counter() - t0
    queued = await system.noops_remaining()
    await system.clear_queue()  # type: ignore[attr-defined]
    return {
        "jobs": p.batch_jobs,
        "batch_size": p.batch_size,
        "enqueue_s": round(took, 3),
        "enqueue_per_s": round(p.batch_jobs / took, 1),
        "queued": queued,
    }
