"""Celery with its Redis broker and Redis result backend (:mod:`benchmarks.adapters.celery_tasks`).

A worker process is ``celery worker --concurrency 1`` (prefork: a parent and one pool child);
the client waits for results with ``AsyncResult.get`` (the Redis backend pushes them over
pub/sub). Variants:

- ``default``: Celery's defaults (plus the Redis result backend, which results need);
- ``tuned``: the documented settings for many short tasks and for crash safety:
  ``--pool solo`` (no parent/child hop), ``worker_prefetch_multiplier=64`` (the optimizing
  guide's advice when round-trip latency matters), ``task_acks_late`` +
  ``task_reject_on_worker_lost`` with a 5 s Redis ``visibility_timeout`` (so a killed worker's
  task is redelivered), and ``worker_disable_rate_limits``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from typing import Any

import redis as redis_sync
from celery import chain, chord, group

from benchmarks.adapters import celery_tasks as t
from benchmarks.adapters.base import StreamResult
from benchmarks.adapters.common import HasWorkers, WorkerProcesses, import_times
from benchmarks.infra import REDIS_DB, Infra

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {"pool": "prefork", "conf": {}},
    "tuned": {
        "pool": "solo",
        "conf": {
            "worker_prefetch_multiplier": 64,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "broker_transport_options": {"visibility_timeout": 5},
            "worker_disable_rate_limits": True,
        },
    },
}


class CelerySystem(HasWorkers):
    """Celery on Redis in one variant."""

    name = "celery"
    workloads = frozenset("abcdfgh")

    def __init__(self, infra: Infra, *, variant: str) -> None:
        self.infra = infra
        self.variant = variant
        self.settings = VARIANTS[variant]
        self.config: dict[str, Any] = {"pool": self.settings["pool"], "concurrency": 1,
                                       **self.settings["conf"]}
        self.notes = {"e": "Celery cannot stream a running task's output to clients "
                           "(update_state progress is polled, not a chunk stream)"}
        self.workers = WorkerProcesses(f"celery-{variant}", infra.log_dir)
        self.env: dict[str, str] = {}
        self._results: redis_sync.Redis | None = None
        self._results_base = 0
        # Celery's AsyncResult.__del__ unsubscribes from the result pub/sub; run by the garbage
        # collector inside another subscribe it deadlocks the client (seen here). Results are
        # kept alive until stop() so that never happens mid-call.
        self._keep: list[Any] = []

    async def start(self) -> None:
        self.infra.flush("celery")
        self.infra.flush("celery-results")
        self.env = {
            "BENCH_CELERY_BROKER": self.infra.redis_url("celery"),
            "BENCH_CELERY_BACKEND": self.infra.redis_url("celery-results"),
            "BENCH_CELERY_CONF": json.dumps(self.settings["conf"]),
        }
        t.app.conf.update(broker_url=self.env["BENCH_CELERY_BROKER"],
                          result_backend=self.env["BENCH_CELERY_BACKEND"],
                          **self.settings["conf"])
        self._results = redis_sync.Redis(host=self.infra.redis_host, port=self.infra.redis_port,
                                         db=REDIS_DB["celery-results"])

    async def stop(self) -> None:
        await self.stop_workers()
        self._keep.clear()
        gc.collect()  # run AsyncResult.__del__ now, not at interpreter exit
        if self._results is not None:
            self._results.close()
            self._results = None

    def _worker_argv(self, n: int) -> list[str]:
        return ["python", "-m", "celery", "-A", "benchmarks.adapters.celery_tasks", "worker",
                "--pool", self.settings["pool"], "--concurrency", "1",
                "--hostname", f"w{n}-{time.time_ns()}@bench", "--loglevel", "WARNING",
                "--without-gossip", "--without-mingle"]

    async def start_workers(self, count: int) -> None:
        await self.workers.start(
            count, lambda n: (self._worker_argv(n), self.env), ready="worker ready",
        )

    async def cold_start(self, runs: int) -> dict[str, Any]:
        """Workload (h): ``runs`` times, queue a task with no worker running, exec ``celery
        worker`` (no one-job mode: the worker is stopped once the task has started) and take
        the task's own start time; then the import time of the worker's modules (``celery.apps
        .worker`` and the task module) and the RSS of an idle worker (and its pool child)."""
        started: list[float] = []
        for i in range(runs):
            res = t.dia_a.apply_async()  # returns time.time() at its start
            self._keep.append(res)
            t0 = time.time()
            self.workers.spawn(self._worker_argv(1000 + i), self.env)
            started.append(float(await asyncio.to_thread(res.get, timeout=60)) - t0)
            await self.stop_workers()
        imports = await import_times(
            "import celery.apps.worker, benchmarks.adapters.celery_tasks", self.env)
        return {"started_s": started, "import_s": imports, "idle_rss_mb": await self.idle_rss_mb()}

    async def diamond(self) -> float | None:
        res = chain(t.dia_a.s(), group(t.dia_b.s(), t.dia_c.s()), t.dia_d.s()).apply_async()
        self._keep.append(res)
        t0, t1 = res.get(timeout=120)
        return float(t1 - t0)

    async def enqueue_noops(self, count: int) -> None:
        assert self._results is not None
        self._results_base = int(self._results.dbsize())
        self._enqueued = count
        for _ in range(count):
            self._keep.append(t.noop.delay())

    async def noops_remaining(self) -> int:
        assert self._results is not None
        done = int(self._results.dbsize()) - self._results_base
        return max(0, self._enqueued - done)

    async def fanout(self, width: int) -> None:
        res = chord(t.fan_item.s(i) for i in range(width))(t.fan_join.s())
        self._keep.append(res)
        assert res.get(timeout=300) == width

    async def chain(self, length: int, size_bytes: int) -> None:
        steps = [t.chain_first.s(size_bytes), *(t.chain_then.s() for _ in range(length - 1))]
        res = chain(*steps).apply_async()
        self._keep.append(res)
        assert len(res.get(timeout=600)) == size_bytes

    async def stream(
        self, chunks: int, clients: int, transport: str, interval_ms: float
    ) -> StreamResult:
        raise NotImplementedError(self.notes["e"])

    async def crash_submit(self, marker_dir: str, length: int, crash_at: int) -> Any:
        steps = [t.crash_step.s(None, 1, crash_at, marker_dir),
                 *(t.crash_step.s(i, crash_at, marker_dir) for i in range(2, length + 1))]
        res = chain(*steps).apply_async()
        self._keep.append(res)
        return res

    async def crash_wait(self, handle: Any, timeout_seconds: float) -> bool:
        try:
            handle.get(timeout=timeout_seconds)
            return True
        except Exception:  # celery.exceptions.TimeoutError and worker-lost errors
            return False


__all__ = ["CelerySystem"]
