"""This project's benchmark workflows (``ORCH_WORKFLOWS=benchmarks.adapters.project_flows``).

- ``bench_diamond``: no-op A → {B, C} → D (workload a);
- ``bench_noop``: one no-op step (workload b);
- ``bench_fanout_<n>``: ``n`` parallel no-op steps ``fan_0..fan_<n-1>`` and a join (workload c).
  Built statically with generated functions until ``@step(map_over=...)`` lands: binding forbids
  ``*args``, so the join is generated with one named parameter per fan step (a parameter named
  like an upstream step receives its output);
- ``bench_chain_<n>``: ``n`` steps, each passing on a ``size``-byte string (workload d);
- ``bench_stream``: one streaming step yielding timestamped chunks (workload e);
- ``bench_crash_<n>``: ``n`` steps recording each run in marker files; step ``crash_at`` waits
  to be killed (workload f).

Widths and lengths come from ``BENCH_FANOUT_WIDTHS`` / ``BENCH_CHAIN_LENGTHS`` (comma-separated),
so the gateway and the workers build the same workflows.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from benchmarks.adapters.common import mark, payload, wait_killed_async
from sdk import Step, step, workflow


def _sizes(var: str, default: str) -> list[int]:
    return [int(x) for x in os.environ.get(var, default).split(",") if x.strip()]


@step
async def dia_a() -> int:
    return 1


@step(depends_on=[dia_a], parallel=True)
async def dia_b(a: int) -> int:
    return a + 1


@step(depends_on=[dia_a], parallel=True)
async def dia_c(a: int) -> int:
    return a + 2


@step(depends_on=[dia_b, dia_c])
async def dia_d(b: int, c: int) -> int:
    return b + c


bench_diamond = workflow("bench_diamond", dia_d)


@step
async def noop() -> None:
    return None


bench_noop = workflow("bench_noop", noop)


def _fanout(width: int) -> Any:
    ns: dict[str, Any] = {"__name__": __name__}
    fans: list[Step] = []
    for i in range(width):
        exec(f"async def fan_{i}() -> int:\n    return {i}\n", ns)
        fans.append(step(parallel=True)(ns[f"fan_{i}"]))
    params = ", ".join(f"fan_{i}: int" for i in range(width))
    exec(f"async def fan_join({params}) -> int:\n    return len(locals())\n", ns)
    join = step(depends_on=fans)(ns["fan_join"])
    return workflow(f"bench_fanout_{width}", join)


def _chain(length: int) -> Any:
    async def first(size: int) -> str:
        return payload(size)

    async def then(prev: str) -> str:
        return prev

    last = step(name=f"chain_{length}_1")(first)
    for i in range(2, length + 1):
        last = step(name=f"chain_{length}_{i}", depends_on=[last])(then)
    return workflow(f"bench_chain_{length}", last)


@step(streams=True)
async def stream_chunks(
    chunks: int, interval_ms: float, start_at: float
) -> AsyncIterator[dict[str, Any]]:
    """Wait until ``start_at`` (epoch s, so clients can connect), then yield timestamped chunks."""
    await asyncio.sleep(max(0.0, start_at - time.time()))
    for i in range(chunks):
        yield {"i": i, "t": time.time()}
        if interval_ms > 0:
            await asyncio.sleep(interval_ms / 1000)


bench_stream = workflow("bench_stream", stream_chunks)


def _crash(length: int) -> Any:
    def make(i: int, first: bool) -> Any:
        name = f"crash_{i}"

        async def head(marker_dir: str, crash_at: int) -> int:
            mark(marker_dir, name)
            if crash_at == i:
                await wait_killed_async(marker_dir)
            return i

        async def body(prev: int, marker_dir: str, crash_at: int) -> int:
            mark(marker_dir, name)
            if crash_at == i:
                await wait_killed_async(marker_dir)
            return prev + 1

        return head if first else body

    last = step(name="crash_1")(make(1, True))
    for i in range(2, length + 1):
        last = step(name=f"crash_{i}", depends_on=[last])(make(i, False))
    return workflow(f"bench_crash_{length}", last)


for _w in _sizes("BENCH_FANOUT_WIDTHS", "100,1000"):
    globals()[f"bench_fanout_{_w}"] = _fanout(_w)
for _n in _sizes("BENCH_CHAIN_LENGTHS", "1,10,100"):
    globals()[f"bench_chain_{_n}"] = _chain(_n)
bench_crash_10 = _crash(10)
