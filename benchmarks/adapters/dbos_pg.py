"""DBOS Transact on PostgreSQL (:mod:`benchmarks.adapters.dbos_app`), in its own database
``dbos_bench``; jobs are enqueued with ``DBOSClient`` and run by separate worker processes, the
way a DBOS service with a queue and worker instances is deployed.

Variants:
- ``default``: DBOS's defaults: the queue is polled every 1 s, and ``get_result`` polls every 1 s;
- ``tuned``: the documented knobs: queue ``polling_interval_sec`` 0.05 s (AgentOrchestrator's
  poll delay) and ``get_result(polling_interval_sec=0.01)``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from dbos import DBOSClient, EnqueueOptions

from benchmarks.adapters.base import StreamResult
from benchmarks.adapters.common import HasWorkers, WorkerProcesses, import_times
from benchmarks.infra import Infra

VARIANTS = {
    "default": {"queue_poll": 1.0, "result_poll": 1.0},
    "tuned": {"queue_poll": 0.05, "result_poll": 0.01},
}
DATABASE = "dbos_bench"


class DbosSystem(HasWorkers):
    """DBOS Transact in one variant."""

    name = "dbos"
    workloads = frozenset("abcdfgh")

    def __init__(self, infra: Infra, *, variant: str) -> None:
        self.infra = infra
        self.variant = variant
        self.settings = VARIANTS[variant]
        self.config: dict[str, Any] = {
            "queue polling_interval_sec": self.settings["queue_poll"],
            "get_result polling_interval_sec": self.settings["result_poll"],
            "client": "DBOSClient.enqueue → worker processes",
        }
        self.notes = {"e": "DBOS streams (write_stream/read_stream) reach clients only through "
                           "an HTTP endpoint the user writes; not built here"}
        self.workers = WorkerProcesses(f"dbos-{variant}", infra.log_dir)
        self.client: DBOSClient | None = None
        self.engine: sa.Engine | None = None
        self.env: dict[str, str] = {}

    async def start(self) -> None:
        await self.infra.recreate_database(DATABASE)
        url = self.infra.pg_url(DATABASE, driver="postgresql")
        self.env = {
            "BENCH_DBOS_DB": url,
            "BENCH_DBOS_QUEUE_POLL": str(self.settings["queue_poll"]),
            "BENCH_DBOS_RESULT_POLL": str(self.settings["result_poll"]),
        }
        await self.start_workers(1)  # the first launch creates DBOS's schema
        await self.stop_workers()
        self.client = DBOSClient(system_database_url=url, application_name="bench")
        self.engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))

    async def stop(self) -> None:
        await self.stop_workers()
        if self.client is not None:
            self.client.destroy()
            self.client = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    async def start_workers(self, count: int) -> None:
        await self.workers.start(  # a replacement reuses the dead one's executor id
            count,
            lambda slot: (["python", "-m", "benchmarks.adapters.dbos_app"],
                          {**self.env, "BENCH_DBOS_EXECUTOR": f"w{slot}"}),
            ready="worker ready",
        )

    async def cold_start(self, runs: int) -> dict[str, Any]:
        """Workload (h): ``runs`` times, enqueue a workflow with no worker running, exec a DBOS
        worker process (no one-job mode: it is stopped once the workflow has started) and take
        the workflow's own start time; then the import time of the worker's module and the RSS
        of an idle worker."""
        started: list[float] = []
        for i in range(runs):
            handle = self._enqueue("diamond_wf")  # returns [its start time, its end time]
            t0 = time.time()
            self.workers.spawn(["python", "-m", "benchmarks.adapters.dbos_app"],
                               {**self.env, "BENCH_DBOS_EXECUTOR": f"cold{i}"})
            first, _ = await asyncio.to_thread(self._get, handle)
            started.append(float(first) - t0)
            await self.stop_workers()
        imports = await import_times("import benchmarks.adapters.dbos_app", self.env)
        return {"started_s": started, "import_s": imports, "idle_rss_mb": await self.idle_rss_mb()}

    def _enqueue(self, workflow: str, *args: Any) -> Any:
        assert self.client is not None
        options: EnqueueOptions = {"queue_name": "bench", "workflow_name": workflow,
                                   "app_version": "bench-1"}
        return self.client.enqueue(options, *args)

    def _get(self, handle: Any) -> Any:
        return handle.get_result(polling_interval_sec=self.settings["result_poll"])

    async def diamond(self) -> float | None:
        t0, t1 = self._get(self._enqueue("diamond_wf"))
        return float(t1 - t0)

    async def enqueue_noops(self, count: int) -> None:
        for _ in range(count):
            self._enqueue("noop_wf")

    async def noops_remaining(self) -> int:
        assert self.engine is not None
        with self.engine.connect() as c:
            return int(c.execute(sa.text(
                "SELECT count(*) FROM dbos.workflow_status WHERE name = 'noop_wf' "
                "AND status IN ('ENQUEUED', 'PENDING')"
            )).scalar_one())

    async def fanout(self, width: int) -> None:
        assert self._get(self._enqueue("fan_wf", width)) == width

    async def chain(self, length: int, size_bytes: int) -> None:
        assert self._get(self._enqueue("chain_wf", length, size_bytes)) == size_bytes

    async def stream(
        self, chunks: int, clients: int, transport: str, interval_ms: float
    ) -> StreamResult:
        raise NotImplementedError(self.notes["e"])

    async def crash_submit(self, marker_dir: str, length: int, crash_at: int) -> Any:
        return self._enqueue("crash_wf", length, crash_at, marker_dir)

    async def crash_wait(self, handle: Any, timeout_seconds: float) -> bool:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            status = handle.get_status().status
            if status == "SUCCESS":
                return True
            if status in ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
                return False
            await asyncio.sleep(self.settings["result_poll"])
        return False


__all__ = ["DbosSystem"]
