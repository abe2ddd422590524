"""(h) Cold start for scale from zero (a KEDA pod): with one job queued and no worker running,
``exec`` of ``orchestrator worker --one-job`` to the job's ``job.started`` event, ``cold_runs``
times; the import time of ``worker.runner`` (``python -X importtime``); an idle worker's RSS.

The exec time is taken by the runner just before it starts the process, ``job.started`` is the
event's own timestamp (one machine, one clock). Celery has no one-job mode: its equivalent is
the exec of ``celery worker`` with a task queued to the task's own start time (the worker is
stopped after it), the import of ``celery.apps.worker`` and the task module, and an idle
worker's RSS (with its pool child); DBOS's is the exec of its worker process (``DBOS.launch``
and the queue) with a workflow enqueued to the workflow's start. Systems without
``cold_start`` (raw arq) are skipped.
"""

from __future__ import annotations

from typing import Any

from benchmarks.adapters.base import System
from benchmarks.workloads.params import Params
from benchmarks.workloads.stats import percentile


async def run(system: System, p: Params) -> dict[str, Any]:
    """Returns ``{runs, started_p50_s, started_max_s, import_s, idle_rss_mb, ...}``."""
    cold = getattr(system, "cold_start", None)
    if cold is None:
        return {"skipped": "no one-job worker"}
    out: dict[str, Any] = await cold(p.cold_runs)
    starts = out.pop("started_s")
    imports = out.pop("import_s")
    out.update(
        runs=len(starts),
        started_p50_s=round(percentile(starts, 50), 3),
        started_min_s=round(min(starts), 3),
        started_max_s=round(max(starts), 3),
        import_p50_s=round(percentile(imports, 50), 3),
        import_min_s=round(min(imports), 3),
        import_max_s=round(max(imports), 3),
    )
    return out
