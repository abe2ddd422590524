"""Where this project's time goes: ``python -m benchmarks.profile --workload a|b|e|g|i``.

- ``a``: runs no-op diamonds one at a time (as workload a) while ``py-spy`` samples the worker
  and the gateway, and splits each job's wall time with its own events: submit → ``job.queued``
  → ``job.started`` → first ``step.started`` → last ``step.succeeded`` → ``job.succeeded`` →
  the client has it.
- ``b``: enqueues single-step jobs with no worker, then samples two workers while they drain.
- ``g``: 1-step no-op jobs one at a time, each ``Client.run`` (one ``POST /v1/jobs`` answered
  with SSE), as workload g, while ``py-spy`` samples the worker and the gateway; the wall time
  split by the job's events, and each process's CPU ms per job split by stage of the path
  (:mod:`benchmarks.stages`).
- ``i``: batched submits (``POST /v1/jobs/batch``, 1,000 per request) with the gateway sampled.
- ``e``: one streaming job to 100 WebSocket clients, sampling the gateway; reports the CPU
  seconds of the gateway, the worker and the clients (this process).

Writes ``<out>/profile-<workload>-<process>.svg`` (flame graphs), the raw collapsed stacks, and
``profile-<workload>.json`` with the timeline medians and the CPU share of each cost category
(a sample counts towards every category its stack touches). Needs ``py-spy`` (``.[bench]``) and
the right to trace the children (root, or ``ptrace_scope`` 0).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.adapters.project import ProjectSystem
from benchmarks.infra import Infra
from benchmarks.procs import exclusive_run, kill_all

SPY_RATE_HZ = 200
"""py-spy samples per second."""
SPY_FLAGS = os.environ.get("BENCH_SPY_FLAGS", "--nonblocking").split()
"""py-spy's sampling mode: ``--nonblocking`` (default: the process never paused; a stack read
while it runs can be torn), or e.g. ``--gil`` (paused per sample, only threads holding the GIL:
exact Python stacks, no idle samples, some slow-down)."""

CATEGORIES: dict[str, str] = {
    "arq worker loop (poll, job start/finish bookkeeping)": r"arq/worker\.py",
    "arq (de)serialization (pickle)": r"arq/jobs\.py.*(serialize|deserialize)|pickle",
    "Redis Lua scripts (EVALSHA)": r"redis/commands/core\.py.*\(__call__|Script\.__call__|evalsha",
    "redis-py protocol (pack, parse, connections)": r"redis/(connection|_parsers|asyncio/connection)",
    "PostgreSQL (SQLAlchemy + asyncpg)": r"sqlalchemy/|asyncpg/",
    "trace recorder hook (PG writes)": r"worker/recorder\.py",
    "executor + step runner": r"worker/(executor|step_runner|invoke)\.py",
    "event publisher": r"worker/publisher\.py",
    "lease heartbeat + reaper": r"worker/(lease|reaper)\.py",
    "JSON (orjson)": r"orchestrator/serialization\.py|orjson",
    "pydantic": r"pydantic",
    "logging (structlog/stdlib)": r"structlog|logging/__init__\.py",
    "telemetry (OpenTelemetry)": r"opentelemetry",
    "FastAPI/Starlette request handling": r"fastapi/|starlette/",
    "uvicorn/httptools/websockets I/O": r"uvicorn/|httptools|websockets/",
    "auth (API keys, rate limits)": r"gateway/auth\.py|orchestrator/auth/|limits/",
    "job submit (JobService)": r"orchestrator/jobs\.py",
    "SSE/WebSocket streaming": r"gateway/streaming/",
}


def summarize(raw: Path, top: int = 25) -> dict[str, Any]:
    """CPU shares by category and the hottest own-time frames of a py-spy ``--format raw`` file."""
    total = 0
    cats: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    compiled = {name: re.compile(rx) for name, rx in CATEGORIES.items()}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        for name, rx in compiled.items():
            if rx.search(stack):
                cats[name] += n
        leaves[stack.rsplit(";", 1)[-1]] += n
    pct = {k: round(100 * v / total, 1) for k, v in cats.most_common()} if total else {}
    return {
        "samples": total,
        "category_pct": pct,
        "top_self_pct": {k: round(100 * v / total, 1) for k, v in leaves.most_common(top)},
    }


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds used so far by each process (children included)."""
    import psutil

    out: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            procs = [psutil.Process(pid)]
            procs += procs[0].children(recursive=True)
            out[name] = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        except psutil.Error:
            out[name] = float("nan")
    return out


def _cpu_ms_per_job(before: dict[str, float], after: dict[str, float], jobs: int) -> dict[str, float]:
    return {k: round((after[k] - before[k]) * 1000 / max(jobs, 1), 3) for k in before}


def _spy(pid: int, seconds: float, out: Path, fmt: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("py-spy") or str(Path(__import__("sys").executable).parent / "py-spy")
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(SPY_RATE_HZ),
         *SPY_FLAGS, "--format", fmt, "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _record(pids: dict[str, int], seconds: float, out: Path, tag: str) -> list[subprocess.Popen[bytes]]:
    procs = []
    for name, pid in pids.items():
        procs.append(_spy(pid, seconds, out / f"profile-{tag}-{name}.svg", "flamegraph"))
        procs.append(_spy(pid, seconds, out / f"profile-{tag}-{name}.txt", "raw"))
    return procs


async def _timeline_job(system: ProjectSystem) -> dict[str, float]:
    assert system.client is not None
    t0 = time.time()
    job = await system.client.submit("bench_diamond", {})
    events = [e async for e in system.client.events(job["job_id"])]
    t1 = time.time()
    ts = {e["type"]: float(e["ts"]) for e in events if not e["type"].startswith("step.")}
    steps = [e for e in events if e["type"].startswith("step.")]
    first_step = min(float(e["ts"]) for e in steps if e["type"] == "step.started")
    last_step = max(float(e["ts"]) for e in steps if e["type"] == "step.succeeded")
    return {
        "submit → job.queued (HTTP, PG insert, Redis create)": ts["job.queued"] - t0,
        "job.queued → job.started (queue pickup, lease, PG mark_started)":
            ts["job.started"] - ts["job.queued"],
        "job.started → first step.started": first_step - ts["job.started"],
        "first step.started → last step.succeeded (4 no-op steps)": last_step - first_step,
        "last step.succeeded → job.succeeded (finish: PG flush + finish_job, Lua)":
            ts["job.succeeded"] - last_step,
        "job.succeeded → client has it (SSE)": t1 - ts["job.succeeded"],
        "total": t1 - t0,
    }


async def profile_a(system: ProjectSystem, seconds: float, out: Path) -> dict[str, Any]:
    """Diamonds one at a time under py-spy; the per-segment timeline medians in ms."""
    await system.start_workers(1)
    for _ in range(20):
        await system.diamond()
    assert system.gateway is not None
    pids = {"worker": system.worker_pids()[0], "gateway": system.gateway.pid}
    spies = _record(pids, seconds, out, "a")
    rows: list[dict[str, float]] = []
    cpu0 = _cpu_seconds(pids)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows.append(await _timeline_job(system))
    cpu = _cpu_ms_per_job(cpu0, _cpu_seconds(pids), len(rows))
    for p in spies:
        p.wait(seconds + 30)
    await system.stop_workers()
    timeline = {k: round(statistics.median(r[k] for r in rows) * 1000, 3) for k in rows[0]}
    return {"jobs": len(rows), "timeline_median_ms": timeline, "cpu_ms_per_job": cpu,
            "cpu": {name: summarize(out / f"profile-a-{name}.txt") for name in pids}}


async def _timeline_g(system: ProjectSystem) -> dict[str, float]:
    """One ``chain(1, 0)`` job through ``Client.run``: its wall time split by its events (s)."""
    assert system.client is not None
    ts: dict[str, float] = {}
    t0 = time.time()
    first = last = 0.0
    async for e in system.client.run("bench_chain_1", {"size": 0}):
        now = time.time()
        first = first or now
        ts.setdefault(e.type, e.ts)
        last = now
    end = time.time()  # the response's end: Client.run returns only then
    return {
        "client → job.queued (HTTP, auth, rate limit, PG row, Redis state)": ts["job.queued"] - t0,
        "job.queued → job.started (enqueue, wake, pickup)": ts["job.started"] - ts["job.queued"],
        "job.started → step.started": ts["step.started"] - ts["job.started"],
        "step.started → step.succeeded (no-op step, checkpoint)":
            ts["step.succeeded"] - ts["step.started"],
        "step.succeeded → job.succeeded (finish, terminal event)":
            ts["job.succeeded"] - ts["step.succeeded"],
        "job.succeeded → client has it (SSE)": last - ts["job.succeeded"],
        "client has job.succeeded → response ends": end - last,
        "(client has job.queued)": first - t0,
        "total": end - t0,
    }


async def profile_g(system: ProjectSystem, seconds: float, out: Path) -> dict[str, Any]:
    """1-step jobs one at a time under py-spy: timeline medians (ms), CPU ms per job by stage."""
    from benchmarks.stages import (
        GATEWAY_GENERIC,
        GATEWAY_STAGES,
        WORKER_GENERIC,
        WORKER_STAGES,
        split,
    )

    await system.start_workers(1)
    for _ in range(50):
        await _timeline_g(system)
    assert system.gateway is not None
    pids = {"worker": system.worker_pids()[0], "gateway": system.gateway.pid}
    spies = _record(pids, seconds, out, "g")
    rows: list[dict[str, float]] = []
    cpu0 = _cpu_seconds(pids)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows.append(await _timeline_g(system))
    cpu = _cpu_ms_per_job(cpu0, _cpu_seconds(pids), len(rows))
    for p in spies:
        p.wait(seconds + 30)
    await system.stop_workers()
    timeline = {k: round(statistics.median(r[k] for r in rows) * 1000, 3) for k in rows[0]}
    return {
        "jobs": len(rows), "timeline_median_ms": timeline, "cpu_ms_per_job": cpu,
        "stages_cpu_ms_per_job": {
            "gateway": split(out / "profile-g-gateway.txt", GATEWAY_STAGES, GATEWAY_GENERIC,
                             jobs=len(rows), rate_hz=SPY_RATE_HZ),
            "worker": split(out / "profile-g-worker.txt", WORKER_STAGES, WORKER_GENERIC,
                            jobs=len(rows), rate_hz=SPY_RATE_HZ),
        },
        "cpu": {name: summarize(out / f"profile-g-{name}.txt") for name in pids},
    }


async def profile_b(system: ProjectSystem, jobs: int, out: Path) -> dict[str, Any]:
    """Single submits (16 in flight) with the gateway under py-spy, then two workers draining
    the ``jobs`` single-step jobs under py-spy."""
    import signal

    from benchmarks.stages import GATEWAY_GENERIC, GATEWAY_STAGES, split

    assert system.gateway is not None
    gw = {"gateway": system.gateway.pid}
    await system.enqueue_noops(50)  # warm: the key cache, pools, the statement cache
    spies = _record(gw, 600, out, "b-enqueue")
    cpu0 = _cpu_seconds(gw)
    t0 = time.perf_counter()
    await system.enqueue_noops(jobs - 50)
    enqueue_s = time.perf_counter() - t0
    cpu = _cpu_ms_per_job(cpu0, _cpu_seconds(gw), jobs - 50)
    for p in spies:
        p.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        p.wait(30)
    enqueue = {
        "jobs": jobs - 50, "enqueue_per_s": round((jobs - 50) / enqueue_s, 1),
        "cpu_ms_per_job": cpu,
        "stages_cpu_ms_per_job": split(out / "profile-b-enqueue-gateway.txt", GATEWAY_STAGES,
                                       GATEWAY_GENERIC, jobs=jobs - 50, rate_hz=SPY_RATE_HZ),
        "cpu": summarize(out / "profile-b-enqueue-gateway.txt"),
    }
    await system.start_workers(2)
    pids = {f"worker{i + 1}": pid for i, pid in enumerate(system.worker_pids())}
    seconds = max(5.0, jobs / 250)
    spies = _record(pids, seconds, out, "b")
    servers = await _server_pids(system)
    cpu0 = _cpu_seconds(pids)
    server_cpu0 = _cpu_seconds(servers)
    reads0 = await _redis_reads(system)
    left0 = await system.noops_remaining()
    t0 = time.perf_counter()
    polls = 0
    while await system.noops_remaining() > 0 and time.perf_counter() - t0 < seconds:
        polls += 1
        await asyncio.sleep(0.01)
    drained_s = time.perf_counter() - t0
    done = left0 - await system.noops_remaining()
    cpu = _cpu_ms_per_job(cpu0, _cpu_seconds(pids), done)
    server_cpu = _cpu_ms_per_job(server_cpu0, _cpu_seconds(servers), done)
    reads = await _redis_reads(system) - reads0 - polls - 2  # less this loop's own reads
    for p in spies:
        p.wait(seconds + 30)
    await system.stop_workers()
    return {"enqueue": enqueue, "jobs": jobs, "drained_while_sampled": done, "drain_s": round(drained_s, 2),
            "drain_per_s": round(done / drained_s, 1), "cpu_ms_per_job": cpu,
            "redis_round_trips_per_job": round(reads / max(done, 1), 2),
            "server_cpu_ms_per_job": server_cpu,
            "timeline_ms": await _drain_timeline(system),
            "cpu": {name: summarize(out / f"profile-b-{name}.txt") for name in pids}}


async def profile_i(system: ProjectSystem, jobs: int, out: Path) -> dict[str, Any]:
    """Batched submits (1,000 per request, two in flight, as workload i) with the gateway under
    py-spy: the rate, the CPU ms per job of the gateway, Redis and PostgreSQL and this process
    (the client), and where the gateway's CPU goes."""
    import signal

    assert system.gateway is not None
    gw = {"gateway": system.gateway.pid}
    await system.enqueue_noops_batched(2000, 1000)  # warm: pools, the statement cache
    await system.clear_queue()
    spies = _record(gw, 600, out, "i")
    servers = await _server_pids(system)
    cpu0 = _cpu_seconds(gw)
    server_cpu0 = _cpu_seconds(servers)
    own0 = time.process_time()
    t0 = time.perf_counter()
    await system.enqueue_noops_batched(jobs, 1000)
    took = time.perf_counter() - t0
    own = (time.process_time() - own0) * 1000 / jobs
    cpu = _cpu_ms_per_job(cpu0, _cpu_seconds(gw), jobs)
    server_cpu = _cpu_ms_per_job(server_cpu0, _cpu_seconds(servers), jobs)
    for p in spies:
        p.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        p.wait(30)
    await system.clear_queue()
    return {"jobs": jobs, "enqueue_per_s": round(jobs / took, 1), "cpu_ms_per_job": cpu,
            "server_cpu_ms_per_job": server_cpu, "client_cpu_ms_per_job": round(own, 3),
            "cpu": summarize(out / "profile-i-gateway.txt")}


async def _server_pids(system: ProjectSystem) -> dict[str, int]:
    """The Redis server's and the PostgreSQL postmaster's pids (its backends are its children),
    when they run on this machine; shared servers, so other clients' work counts too."""
    import psutil

    assert system.redis is not None
    found = {"redis-server": int((await system.redis.info("server"))["process_id"])}
    for proc in psutil.process_iter(["name", "ppid"]):
        parent = psutil.Process(proc.info["ppid"]) if proc.info["ppid"] else None
        if proc.info["name"] == "postgres" and (parent is None or parent.name() != "postgres"):
            found["postgres"] = proc.pid
            break
    return found


async def _redis_reads(system: ProjectSystem) -> int:
    """Redis's ``total_reads_processed``: one per read of a client's request(s), so one per
    round trip however many commands a pipeline carries (and the workers are its only other
    clients while they drain)."""
    assert system.redis is not None
    info = await system.redis.info("stats")
    return int(info["total_reads_processed"])


async def _drain_timeline(system: ProjectSystem, sample: int = 500) -> dict[str, Any]:
    """Medians and p90s of each drained job's segments (from its events), and how many jobs
    each worker had between ``job.started`` and ``job.succeeded`` on average."""
    from benchmarks.workloads.stats import percentile

    assert system.redis is not None
    keys = [k async for k in system.redis.scan_iter(match="bench:events:*", count=1000)]
    segments: dict[str, list[float]] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for key in keys[:sample]:
        events = {
            fields[b"type"].decode(): (float(fields[b"ts"]), fields)
            for _, fields in await system.redis.xrange(key)
        }
        names = ["job.queued", "job.started", "step.started", "step.succeeded", "job.succeeded"]
        if not all(n in events for n in names):
            continue
        for a, b in itertools.pairwise(names):
            segments.setdefault(f"{a} → {b}", []).append(events[b][0] - events[a][0])
        worker = json.loads(events["job.started"][1][b"data"])["worker"]
        spans.setdefault(worker, []).append((events["job.started"][0], events["job.succeeded"][0]))
    # The sampled jobs stand for all: their busy time is scaled up by the sampling fraction
    # (it was divided by the whole drain's window unscaled, so 4 jobs in flight read as 0.1).
    scale = len(keys) / max(1, min(sample, len(keys)))
    busy = {}
    for worker, intervals in spans.items():
        total = sum(b - a for a, b in intervals) * scale
        window = max(b for _, b in intervals) - min(a for a, _ in intervals)
        busy[worker] = round(total / window, 1) if window > 0 else None
    return {
        "jobs_sampled": len(next(iter(segments.values()), [])),
        "p50": {k: round(percentile(v, 50) * 1000, 2) for k, v in segments.items()},
        "p90": {k: round(percentile(v, 90) * 1000, 2) for k, v in segments.items()},
        "mean_jobs_in_flight_per_worker": busy,
    }


async def profile_e(system: ProjectSystem, clients: int, out: Path) -> dict[str, Any]:
    """One streaming job (1,000 chunks, 1 ms apart) to ``clients`` WebSocket clients under py-spy;
    also the CPU the clients (this process) used, to tell gateway limits from client limits."""
    import os

    from benchmarks.workloads.stats import percentile

    await system.start_workers(1)
    await system.stream(50, 1, "ws", 1.0)  # warm-up
    assert system.gateway is not None
    pids = {"gateway": system.gateway.pid, "worker": system.worker_pids()[0],
            "clients": os.getpid()}
    spies = _record({"gateway": system.gateway.pid}, 8, out, "e")
    cpu0 = _cpu_seconds(pids)
    t0 = time.perf_counter()
    r = await system.stream(1000, clients, "ws", 1.0)
    wall = time.perf_counter() - t0
    cpu1 = _cpu_seconds(pids)
    for p in spies:
        p.wait(40)
    await system.stop_workers()
    return {
        "clients": clients, "wall_s": round(wall, 2),
        "p50_ms": round(percentile(r.latencies_ms, 50), 2),
        "p99_ms": round(percentile(r.latencies_ms, 99), 2), "lost": r.lost, "dup": r.duplicated,
        "cpu_s": {k: round(cpu1[k] - cpu0[k], 2) for k in pids},
        "cpu": {"gateway": summarize(out / "profile-e-gateway.txt")},
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    infra = Infra()
    system = ProjectSystem(infra, fanout_widths=[10], chain_lengths=[1])
    await system.start()
    try:
        if args.workload == "a":
            return await profile_a(system, args.seconds, args.out)
        if args.workload == "e":
            return await profile_e(system, args.clients, args.out)
        if args.workload == "g":
            return await profile_g(system, args.seconds, args.out)
        if args.workload == "i":
            return await profile_i(system, args.jobs, args.out)
        return await profile_b(system, args.jobs, args.out)
    finally:
        await system.stop()


def main() -> None:
    """Profile, write the JSON summary, print it."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    ap.add_argument("--workload", choices=["a", "b", "e", "g", "i"], default="a")
    ap.add_argument("--clients", type=int, default=100, help="(e) WebSocket clients")
    ap.add_argument("--seconds", type=float, default=20.0, help="(a, g) how long to sample")
    ap.add_argument("--jobs", type=int, default=5000, help="(b) jobs to drain, (i) jobs to submit")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "profiles")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_run():
            result = asyncio.run(main_async(args))
    finally:
        kill_all()
    path = args.out / f"profile-{args.workload}.json"
    path.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
