"""(e) A step yielding chunks to 1, 10 and 100 clients over WebSocket and SSE: yield-to-receive
latency (the chunk carries its yield time; clients are on this machine, so one clock) and the
chunks each client lost or got twice. Clients connect before the first chunk. One worker. Chunks
come ``stream_interval_ms`` apart (1 ms: a stress rate), and for 100 WebSocket clients also
``stream_paced_interval_ms`` apart (10 ms: a fast LLM's token rate)."""

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
        runs = [(t, n, p.stream_interval_ms, f"{t}/{n}")
                for t in p.stream_transports for n in p.stream_clients]
        if p.stream_paced_interval_ms > 0 and "ws" in p.stream_transports:
            paced = p.stream_paced_interval_ms
            runs.append(("ws", 100, paced, f"ws/100 @{paced:g}ms"))
        for transport, clients, interval_ms, name in runs:
            r = await system.stream(p.stream_chunks, clients, transport, interval_ms)
            cases[name] = {
                "clients": clients,
                "interval_ms": interval_ms,
                "p50_ms": round(percentile(r.latencies_ms, 50), 3),
                "p99_ms": round(percentile(r.latencies_ms, 99), 3),
                "max_ms": round(max(r.latencies_ms), 3) if r.latencies_ms else None,
                "received": len(r.latencies_ms),
                "lost": r.lost,
                "duplicated": r.duplicated,
                "client_procs": r.client_procs,
                "late_connect": r.late_connect,
            }
    finally:
        await system.stop_workers()
    return {"chunks": p.stream_chunks, "interval_ms": p.stream_interval_ms, "cases": cases}
