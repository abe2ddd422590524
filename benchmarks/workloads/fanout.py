"""(c) One job fanning out into ``width`` parallel no-op steps and a join: total time
(submit to result) and the peak resident memory of the worker processes (sampled every 20 ms,
children included). Two worker processes, one warm-up job first."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from benchmarks.adapters.base import System
from benchmarks.workloads.params import Params


class _PeakRss:
    """Samples ``system.worker_rss_bytes()`` in a thread and keeps the peak."""

    def __init__(self, system: System, interval_seconds: float = 0.02) -> None:
        self.system = system
        self.interval = interval_seconds
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.system.worker_rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


async def run(system: System, p: Params) -> dict[str, Any]:
    """Returns ``{width, reps, total_s: [...], best_s, median_s, peak_rss_mb, idle_rss_mb}``."""
    await system.start_workers(p.fanout_workers)
    try:
        await asyncio.wait_for(system.fanout(p.fanout_width), p.fanout_timeout_seconds)
        idle = system.worker_rss_bytes()
        times: list[float] = []
        with _PeakRss(system) as rss:
            for _ in range(p.fanout_reps):
                t0 = time.perf_counter()
                await asyncio.wait_for(system.fanout(p.fanout_width), p.fanout_timeout_seconds)
                times.append(time.perf_counter() - t0)
    finally:
        await system.stop_workers()
    times_sorted = sorted(times)
    return {
        "width": p.fanout_width,
        "workers": p.fanout_workers,
        "reps": len(times),
        "total_s": [round(t, 3) for t in times],
        "best_s": round(times_sorted[0], 3),
        "median_s": round(times_sorted[len(times) // 2], 3),
        "idle_rss_mb": round(idle / 2**20, 1),
        "peak_rss_mb": round(rss.peak / 2**20, 1),
    }
