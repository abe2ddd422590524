"""DBOS Transact's side: the workflows and the worker process (``python -m
benchmarks.adapters.dbos_app``), configured by ``BENCH_DBOS_*`` variables.

Workers dequeue from the queue ``bench`` (polled every ``BENCH_DBOS_QUEUE_POLL`` s; DBOS's
default is 1 s). Each worker has its own ``executor_id``; a restarted worker with the same id
recovers that executor's pending workflows at launch (DBOS's self-hosted recovery). The diamond's
B and C run one after the other inside the workflow: they are no-ops, and concurrent steps in
one workflow are where DBOS's ordering bug (#688) lives.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from dbos import DBOS, DBOSConfig

from benchmarks.adapters.common import mark, payload, wait_killed

APP_NAME = "bench"
APP_VERSION = "bench-1"  # pinned, so the client's and the workers' versions agree
QUEUE_NAME = "bench"

QUEUE_POLL = float(os.environ.get("BENCH_DBOS_QUEUE_POLL", "1.0"))
RESULT_POLL = float(os.environ.get("BENCH_DBOS_RESULT_POLL", "1.0"))


@DBOS.step()
def add(x: int, y: int) -> int:
    return x + y


@DBOS.workflow()
def diamond_wf() -> list[float]:
    t0 = time.time()
    a = add(0, 1)
    b = add(a, 1)
    c = add(a, 2)
    add(b, c)
    return [t0, time.time()]


@DBOS.step()
def noop_step() -> None:
    return None


@DBOS.workflow()
def noop_wf() -> None:
    noop_step()


@DBOS.step()
def fan_step(i: int) -> int:
    return i


@DBOS.workflow()
def fan_item_wf(i: int) -> int:
    return fan_step(i)


@DBOS.workflow()
def fan_wf(width: int) -> int:
    handles = [DBOS.enqueue_workflow(QUEUE_NAME, fan_item_wf, i) for i in range(width)]
    return len([h.get_result(polling_interval_sec=RESULT_POLL) for h in handles])


@DBOS.step()
def chain_first(size: int) -> str:
    return payload(size)


@DBOS.step()
def chain_then(data: str) -> str:
    return data


@DBOS.workflow()
def chain_wf(length: int, size: int) -> int:
    data = chain_first(size)
    for _ in range(length - 1):
        data = chain_then(data)
    return len(data)


@DBOS.step()
def crash_step(i: int, crash_at: int, marker_dir: str) -> int:
    mark(marker_dir, f"crash_{i}")
    if i == crash_at:
        wait_killed(marker_dir)
    return i


@DBOS.workflow()
def crash_wf(length: int, crash_at: int, marker_dir: str) -> int:
    for i in range(1, length + 1):
        crash_step(i, crash_at, marker_dir)
    return length


def config() -> DBOSConfig:
    """The worker's DBOS configuration from the environment."""
    return {
        "name": APP_NAME,
        "system_database_url": os.environ["BENCH_DBOS_DB"],
        "executor_id": os.environ.get("BENCH_DBOS_EXECUTOR", "local"),
        "application_version": APP_VERSION,
        "log_level": "WARNING",
    }


def main() -> None:
    """Launch DBOS, say so, and serve the queue until SIGTERM."""
    DBOS(config=config())
    DBOS.launch()
    DBOS.register_queue(QUEUE_NAME, polling_interval_sec=QUEUE_POLL, on_conflict="always_update")
    print("worker ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    DBOS.destroy(workflow_completion_timeout_sec=1)


if __name__ == "__main__":
    main()
