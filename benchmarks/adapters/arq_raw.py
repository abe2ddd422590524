"""Raw arq: one arq job per step, chained by hand (:mod:`benchmarks.adapters.arq_tasks`).

Variants:
- ``default``: arq's defaults: worker ``poll_delay`` 0.5 s, ``job_timeout`` 300 s, and the
  client polls for the result every 0.5 s (``Job.result``'s default);
- ``tuned``: the same worker ``poll_delay`` as AgentOrchestrator's default (0.05 s, so (b)
  compares at equal polling), the client polls every 0.01 s, and ``job_timeout`` 5 s so a dead
  worker's job is re-run after ``job_timeout + 10 s`` rather than 310 s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from arq.connections import ArqRedis, create_pool
from arq.connections import RedisSettings as ArqRedisSettings
from arq.constants import result_key_prefix
from arq.jobs import deserialize_result

from benchmarks.adapters.arq_tasks import QUEUE
from benchmarks.adapters.base import StreamResult
from benchmarks.adapters.common import HasWorkers, WorkerProcesses
from benchmarks.infra import Infra

ENQUEUE_CONCURRENCY = 16

VARIANTS = {
    "default": {"poll_delay": "0.5", "job_timeout": "300", "client_poll_seconds": 0.5},
    "tuned": {"poll_delay": "0.05", "job_timeout": "5", "client_poll_seconds": 0.01},
}


class ArqSystem(HasWorkers):
    """Raw arq in one variant."""

    name = "arq"
    workloads = frozenset("abcdfg")

    def __init__(self, infra: Infra, *, variant: str) -> None:
        self.infra = infra
        self.variant = variant
        self.settings = VARIANTS[variant]
        self.config: dict[str, Any] = {
            "worker poll_delay s": self.settings["poll_delay"],
            "job_timeout s": self.settings["job_timeout"],
            "client result poll s": self.settings["client_poll_seconds"],
            "max_jobs": 10,
        }
        self.notes = {"e": "arq has no way to stream a running job's output to clients"}
        self.workers = WorkerProcesses(f"arq-{variant}", infra.log_dir)
        self.redis: ArqRedis | None = None
        self.env: dict[str, str] = {}

    async def start(self) -> None:
        self.infra.flush("arq")
        url = self.infra.redis_url("arq")
        self.env = {
            "BENCH_ARQ_REDIS": url,
            "BENCH_ARQ_POLL_DELAY": str(self.settings["poll_delay"]),
            "BENCH_ARQ_JOB_TIMEOUT": str(self.settings["job_timeout"]),
        }
        self.redis = await create_pool(ArqRedisSettings.from_dsn(url), default_queue_name=QUEUE)

    async def stop(self) -> None:
        await self.stop_workers()
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    async def start_workers(self, count: int) -> None:
        await self.workers.start(
            count, lambda _: (["python", "-m", "benchmarks.adapters.arq_tasks"], self.env),
            ready="worker ready", timeout_seconds=30,
        )

    async def _result(self, job_id: str, timeout_seconds: float = 120.0) -> Any:
        """Poll ``arq:result:<job_id>`` (the job may not be enqueued yet, so not ``Job.result``)."""
        assert self.redis is not None
        deadline = time.monotonic() + timeout_seconds
        while True:
            raw = await self.redis.get(result_key_prefix + job_id)
            if raw is not None:
                res = deserialize_result(raw)
                if not res.success:
                    raise RuntimeError(f"arq job {job_id} failed: {res.result!r}")
                return res.result
            if time.monotonic() > deadline:
                raise TimeoutError(f"no result for arq job {job_id}")
            await asyncio.sleep(float(self.settings["client_poll_seconds"]))

    async def _enqueue(self, function: str, *args: Any, job_id: str) -> None:
        assert self.redis is not None
        await self.redis.enqueue_job(function, *args, _job_id=job_id, _queue_name=QUEUE)

    async def diamond(self) -> float | None:
        run = uuid.uuid4().hex
        await self._enqueue("dia_a", run, job_id=f"{run}:dia_a")
        t0, t1 = await self._result(f"{run}:dia_d")
        return float(t1 - t0)

    async def enqueue_noops(self, count: int) -> None:
        sem = asyncio.Semaphore(ENQUEUE_CONCURRENCY)

        async def one() -> None:
            async with sem:
                await self._enqueue("noop", job_id=uuid.uuid4().hex)

        await asyncio.gather(*(one() for _ in range(count)))

    async def noops_remaining(self) -> int:
        assert self.redis is not None
        return int(await self.redis.zcard(QUEUE))

    async def fanout(self, width: int) -> None:
        run = uuid.uuid4().hex
        await self._enqueue("fan_src", run, width, job_id=f"{run}:fan_src")
        await self._result(f"{run}:fan_join", 300)

    async def chain(self, length: int, size_bytes: int) -> None:
        run = uuid.uuid4().hex
        await self._enqueue("chain_step", run, 1, length, size_bytes, job_id=f"{run}:1")
        await self._result(f"{run}:{length}", 600)

    async def stream(
        self, chunks: int, clients: int, transport: str, interval_ms: float
    ) -> StreamResult:
        raise NotImplementedError(self.notes["e"])

    async def crash_submit(self, marker_dir: str, length: int, crash_at: int) -> Any:
        run = uuid.uuid4().hex
        await self._enqueue("crash_step", run, 1, length, crash_at, marker_dir, job_id=f"{run}:1")
        return f"{run}:{length}"

    async def crash_wait(self, handle: Any, timeout_seconds: float) -> bool:
        try:
            await self._result(str(handle), timeout_seconds)
            return True
        except TimeoutError:
            return False


__all__ = ["ArqSystem"]
