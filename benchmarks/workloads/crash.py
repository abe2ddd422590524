"""(f) ``kill -9`` of the worker while step ``crash_at`` of a ``length``-step chain runs, then a
replacement worker is started at once (as a Deployment or KEDA would): steps re-executed (from
marker files the steps append to) and the time from the kill to the job's end, per trial."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.adapters.base import System
from benchmarks.procs import wait_for
from benchmarks.workloads.params import Params
from benchmarks.workloads.stats import percentile


def _runs(marker_dir: Path, step: str) -> int:
    path = marker_dir / step
    return len(path.read_text().splitlines()) if path.exists() else 0


async def _trial(system: System, p: Params) -> dict[str, Any]:
    marker_dir = Path(tempfile.mkdtemp(prefix="bench-crash-"))
    try:
        await system.start_workers(1)
        handle = await system.crash_submit(str(marker_dir), p.crash_length, p.crash_at)
        await asyncio.to_thread(
            wait_for, lambda: (marker_dir / f"crash_{p.crash_at}").exists(),
            timeout_seconds=60, what=f"step {p.crash_at} to start", interval_seconds=0.002,
        )
        await system.kill_workers()
        killed_at = time.perf_counter()
        (marker_dir / "killed").touch()
        await system.start_workers(1)
        ended = await system.crash_wait(handle, p.crash_timeout_seconds)
        took = time.perf_counter() - killed_at
        runs = {i: _runs(marker_dir, f"crash_{i}") for i in range(1, p.crash_length + 1)}
        return {
            "ended": ended,
            "kill_to_end_s": round(took, 3) if ended else None,
            "finished_steps_rerun": sum(max(0, runs[i] - 1) for i in range(1, p.crash_at)),
            "crashed_step_runs": runs[p.crash_at],
            "extra_runs_total": sum(max(0, n - 1) for n in runs.values()),
        }
    finally:
        await system.stop_workers()
        shutil.rmtree(marker_dir, ignore_errors=True)


async def run(system: System, p: Params) -> dict[str, Any]:
    """Returns ``{trials, ended, finished_steps_rerun, kill_to_end_s: {p50, max}, per_trial}``."""
    trials: list[dict[str, Any]] = []
    for _ in range(p.crash_trials):
        trials.append(await _trial(system, p))
        if len(trials) >= 2 and not trials[-1]["ended"] and not trials[-2]["ended"]:
            break  # two timeouts in a row: the rest would time out as well
    times = [t["kill_to_end_s"] for t in trials if t["ended"]]
    return {
        "trials": len(trials),
        "ended": sum(t["ended"] for t in trials),
        "timeout_s": p.crash_timeout_seconds,
        "finished_steps_rerun": sum(t["finished_steps_rerun"] for t in trials),
        "extra_runs_total": sum(t["extra_runs_total"] for t in trials),
        "kill_to_end_p50_s": round(percentile(times, 50), 3) if times else None,
        "kill_to_end_max_s": round(max(times), 3) if times else None,
        "per_trial": trials,
    }
