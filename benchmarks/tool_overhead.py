"""The overhead of a tool call through the MCP manager and ``ctx.tools`` over a direct ``mcp``
client call to the same stdio server: ``python -m benchmarks.tool_overhead [--calls N]``.

Three paths call ``get_current_time`` of the real ``mcp-server-time`` (the direct client and the
manager each with its own server process, started the same way), interleaved call by call so
that drift on a shared machine hits all three alike:

- ``direct``: the official SDK's ``mcp.Client`` (the floor);
- ``manager``: ``McpManager.call`` (tool lookup, policy hook, schema validation, semaphore,
  timeout, span, metrics, audit row queued; its audit sink is a no-op here, as the row is
  written off the call's path anyway);
- ``ctx_tools``: ``StepTools.call`` (``ctx.tools``), i.e. the manager plus the durable-call
  record of DESIGN §13 on a real Redis (one GET and one SET per call).

The overhead is the difference of the paths' p50 and p99 (target: <= 1 ms p50 for ``ctx.tools``).
Results go to ``benchmarks/results/<stamp>-tools.json`` and stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """p50, p90, p99 and mean in milliseconds (linear interpolation between closest ranks, as
    ``benchmarks.workloads.stats``, whose package imports the peers' dependencies)."""
    ms = sorted(s * 1000 for s in seconds)

    def q(p: float) -> float:
        pos = (len(ms) - 1) * p / 100
        lo = int(pos)
        hi = min(lo + 1, len(ms) - 1)
        return round(ms[lo] + (ms[hi] - ms[lo]) * (pos - lo), 3)

    return {"p50_ms": q(50), "p90_ms": q(90), "p99_ms": q(99),
            "mean_ms": round(sum(ms) / len(ms), 3)}  # fmt: skip


RESULTS_DIR = Path(__file__).resolve().parent / "results"
ARGS = {"timezone": "UTC"}
TOOL = "get_current_time"
REDIS_DB = 14  # one of the benchmark's own DB indexes (benchmarks/infra.py)


async def measure(calls: int, warmup: int) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters
    from redis.asyncio import Redis

    from orchestrator.durable import CallJournal, RedisCallStore
    from orchestrator.jobs.actor import Actor
    from orchestrator.keys import Keys
    from orchestrator.mcp.config import parse_servers
    from orchestrator.mcp.manager import McpManager
    from orchestrator.mcp.step import StepTools
    from orchestrator.trace.records import AuditRecord

    async def no_audit(record: AuditRecord) -> None:
        return None

    host = os.environ.get("BENCH_REDIS_HOST", "127.0.0.1")
    port = int(os.environ.get("BENCH_REDIS_PORT", "6379"))
    redis = Redis.from_url(f"redis://{host}:{port}/{REDIS_DB}")
    keys = Keys(f"benchtools{uuid.uuid4().hex[:8]}")
    server = {"name": "time", "transport": "stdio", "command": sys.executable,
              "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}  # fmt: skip
    actor = Actor(id="bench", tenant_id="bench", role="submitter")
    samples: dict[str, list[float]] = {"direct": [], "manager": [], "ctx_tools": []}
    params = StdioServerParameters(command=sys.executable, args=server["args"])
    try:
        async with (
            Client(params, cache=None) as direct,
            McpManager(
                parse_servers([server], source="bench"),
                redis=redis,
                keys=keys,
                audit=no_audit,
            ) as manager,  # fmt: skip
        ):
            store = RedisCallStore(redis, keys=keys, ttl_seconds=600)
            for n in range(warmup + calls):
                journal = CallJournal(store, f"bench-{n}", "step")  # a fresh attempt: no replay
                tools = StepTools(manager, actor, journal=journal, job_id=None)
                t0 = time.perf_counter()
                await direct.call_tool(TOOL, ARGS)
                t1 = time.perf_counter()
                await manager.call(actor, f"time/{TOOL}", ARGS)
                t2 = time.perf_counter()
                await tools.call(f"time/{TOOL}", ARGS)
                t3 = time.perf_counter()
                if n >= warmup:
                    samples["direct"].append(t1 - t0)
                    samples["manager"].append(t2 - t1)
                    samples["ctx_tools"].append(t3 - t2)
    finally:
        found = [k async for k in redis.scan_iter(f"{keys.prefix}:*")]
        if found:
            await redis.delete(*found)
        await redis.aclose()
    paths = {name: summary_ms(values) for name, values in samples.items()}
    overhead = {
        name: {q: round(paths[name][q] - paths["direct"][q], 3) for q in ("p50_ms", "p99_ms")}
        for name in ("manager", "ctx_tools")
    }
    return {"calls": calls, "warmup": warmup, "tool": f"mcp-server-time/{TOOL}", "paths": paths,
            "overhead": overhead, "target_p50_ms": 1.0}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and write the JSON next to the other results."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tool_overhead", description=__doc__)
    ap.add_argument("--calls", type=int, default=2000, help="measured calls per path")
    ap.add_argument("--warmup", type=int, default=100, help="unmeasured calls first")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = ap.parse_args(argv)
    result = asyncio.run(measure(args.calls, args.warmup))
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"{stamp}-tools.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    for name, figures in result["paths"].items():
        print(f"{name:10s} p50 {figures['p50_ms']:7.3f} ms  p99 {figures['p99_ms']:7.3f} ms")
    for name, figures in result["overhead"].items():
        print(
            f"overhead of {name}: p50 {figures['p50_ms']:+.3f} ms, p99 {figures['p99_ms']:+.3f} ms"
            f" (target p50 <= {result['target_p50_ms']} ms)"
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
