"""(e) A step yielding chunks to 1, 10 and 100 clients over WebSocket and SSE: yield-to-receive
latency (the chunk carries its yield time; clients are on this machine, so one clock) and the
chunks each client lost or got twice. Clients connect before the first chunk. One worker."""

from __future__ import annotations

from typing import Any

from benchmarks.adapters.base import System
from benchmarks.workloads.params import Params
from benchmarks.workloads.stats import percentile


async def run(system: System, p: Params) -> dict[str, Any]:
    """Returns ``{chunks, interval_ms, cases: {"ws/100": {p50_ms, p99_ms, lost, duplicated}}}``."""
    cases: dict[str, Any] = {}
    await system.start_workers(1)
    try:
        for transport in p.stream_transports:
            for clients in p.stream_clients:
                r = await system.stream(p.stream_chunks, clients, transport, p.stream_interval_ms)
                cases[f"{transport}/{clients}"] = {
                    "clients": clients,
                    "p50_ms": round(percentile(r.latencies_ms, 50), 3),
                    "p99_ms": round(percentile(r.latencies_ms, 99), 3),
                    "max_ms": round(max(r.latencies_ms), 3) if r.latencies_ms else None,
                    "received": len(r.latencies_ms),
                    "lost": r.lost,
                    "duplicated": r.duplicated,
                }
    finally:
        await system.stop_workers()
    return {"chunks": p.stream_chunks, "interval_ms": p.stream_interval_ms, "cases": cases}
