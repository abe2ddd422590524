"""Celery's side: the app and its tasks, configured from ``BENCH_CELERY_*`` variables.

Workflows are canvas primitives built by the client (:mod:`benchmarks.adapters.celery_redis`):
the diamond is ``chain(a, group(b, c), d)`` (Celery turns it into a chord), the fan-out a
``chord``, a chain a ``chain``. Workers: ``celery -A benchmarks.adapters.celery_tasks worker``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from benchmarks.adapters.common import mark, payload, wait_killed

app = Celery(
    "bench",
    broker=os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/13"),
    backend=os.environ.get("BENCH_CELERY_BACKEND", "redis://127.0.0.1:6379/14"),
)
app.conf.update(json.loads(os.environ.get("BENCH_CELERY_CONF", "{}")))


@worker_ready.connect
def _ready(**_: Any) -> None:
    print("worker ready", flush=True)


@app.task
def dia_a() -> float:
    return time.time()


@app.task
def dia_b(t0: float) -> float:
    return t0


@app.task
def dia_c(t0: float) -> float:
    return t0


@app.task
def dia_d(t0s: list[float]) -> list[float]:
    return [t0s[0], time.time()]


@app.task
def noop() -> None:
    return None


@app.task
def fan_item(i: int) -> int:
    return i


@app.task
def fan_join(items: list[int]) -> int:
    return len(items)


@app.task
def chain_first(size: int) -> str:
    return payload(size)


@app.task
def chain_then(data: str) -> str:
    return data


@app.task
def crash_step(prev: Any, i: int, crash_at: int, marker_dir: str) -> int:
    mark(marker_dir, f"crash_{i}")
    if i == crash_at:
        wait_killed(marker_dir)
    return i
