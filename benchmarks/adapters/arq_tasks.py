"""Raw arq's worker side: one arq job per step, each step enqueueing its successors by hand.

This is the floor AgentOrchestrator builds on. Joins count arrivals with ``INCR`` on a key; the
last arrival enqueues the join. Job ids are ``<run>:<step>`` so the client knows which result to
wait for. Run as ``python -m benchmarks.adapters.arq_tasks`` with ``BENCH_ARQ_*`` settings.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker

from benchmarks.adapters.common import mark, payload, wait_killed_async

QUEUE = "bench-arq:queue"
JOIN_TTL_SECONDS = 3600  # a join counter outlives any run it counts


async def _join(ctx: dict[str, Any], key: str, expected: int) -> bool:
    redis = ctx["redis"]
    n = await redis.incr(key)
    if n == 1:
        await redis.expire(key, JOIN_TTL_SECONDS)
    return bool(n == expected)


async def dia_a(ctx: dict[str, Any], run: str) -> None:
    t0 = time.time()
    for step in ("dia_b", "dia_c"):
        await ctx["redis"].enqueue_job(step, run, t0, _job_id=f"{run}:{step}", _queue_name=QUEUE)


async def dia_b(ctx: dict[str, Any], run: str, t0: float) -> None:
    if await _join(ctx, f"bench-arq:join:{run}", 2):
        await ctx["redis"].enqueue_job("dia_d", run, t0, _job_id=f"{run}:dia_d", _queue_name=QUEUE)


async def dia_c(ctx: dict[str, Any], run: str, t0: float) -> None:
    await dia_b(ctx, run, t0)


async def dia_d(ctx: dict[str, Any], run: str, t0: float) -> list[float]:
    return [t0, time.time()]


async def noop(ctx: dict[str, Any]) -> None:
    return None


async def fan_src(ctx: dict[str, Any], run: str, width: int) -> None:
    for i in range(width):
        await ctx["redis"].enqueue_job("fan_item", run, width, _job_id=f"{run}:fan_{i}",
                                       _queue_name=QUEUE)


async def fan_item(ctx: dict[str, Any], run: str, width: int) -> None:
    if await _join(ctx, f"bench-arq:join:{run}", width):
        await ctx["redis"].enqueue_job("fan_join", run, width, _job_id=f"{run}:fan_join",
                                       _queue_name=QUEUE)


async def fan_join(ctx: dict[str, Any], run: str, width: int) -> int:
    return width


async def chain_step(ctx: dict[str, Any], run: str, i: int, length: int, data: Any) -> int:
    if i == 1:
        data = payload(data)  # the first step makes the output from the size it is given
    if i < length:
        await ctx["redis"].enqueue_job("chain_step", run, i + 1, length, data,
                                       _job_id=f"{run}:{i + 1}", _queue_name=QUEUE)
    return len(data)


async def crash_step(
    ctx: dict[str, Any], run: str, i: int, length: int, crash_at: int, marker_dir: str
) -> int:
    mark(marker_dir, f"crash_{i}")
    if i == crash_at:
        await wait_killed_async(marker_dir)
    if i < length:
        await ctx["redis"].enqueue_job("crash_step", run, i + 1, length, crash_at, marker_dir,
                                       _job_id=f"{run}:{i + 1}", _queue_name=QUEUE)
    return i


async def _ready(ctx: dict[str, Any]) -> None:
    print("worker ready", flush=True)


def build_worker() -> Worker:
    """The arq worker as configured by ``BENCH_ARQ_REDIS``, ``_POLL_DELAY``, ``_JOB_TIMEOUT``."""
    return Worker(
        functions=[dia_a, dia_b, dia_c, dia_d, noop, fan_src, fan_item, fan_join, chain_step,
                   crash_step],
        queue_name=QUEUE,
        redis_settings=RedisSettings.from_dsn(os.environ["BENCH_ARQ_REDIS"]),
        poll_delay=float(os.environ.get("BENCH_ARQ_POLL_DELAY", "0.5")),
        job_timeout=int(os.environ.get("BENCH_ARQ_JOB_TIMEOUT", "300")),
        on_startup=_ready,
    )


async def main() -> None:
    """Run one worker until SIGTERM (arq binds its worker to the running loop: build it inside)."""
    await build_worker().async_run()


if __name__ == "__main__":
    asyncio.run(main())
