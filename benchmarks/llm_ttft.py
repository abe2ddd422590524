"""Time to first token through the whole stack, against the SDK alone (issue 15).

``python -m benchmarks.llm_ttft [--samples N]`` (also run by ``make bench``): a local server
speaking the Anthropic Messages wire format (tests/support/llm_server.py, its own process) is
called

- **directly**: the ``anthropic`` SDK's ``messages.create(stream=True)``, until the first
  ``text_delta``;
- **through the stack**: ``POST /v1/jobs`` with ``Accept: text/event-stream`` to an
  ``orchestrator gateway`` process, a separate ``orchestrator worker`` runs a streaming step
  (``async for text in ctx.llm.stream(...): yield text``) whose SDK calls the same server, until
  the first ``step.chunk`` event reaches the client.

Both are sequential, after a warm-up; the difference of the medians is what the runtime adds
(queue, job start, step start, durable-call lookup, budget check, event publishing, SSE).
Target: at most 5 ms at p50. Results go to ``benchmarks/results/<stamp>-llm-ttft.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATABASE = "orch_bench_llm"
REPLY = " ".join(["token"] * 32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, procs: list[subprocess.Popen[bytes]], timeout_seconds: float = 60) -> None:
    deadline = time.monotonic() + timeout_seconds
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready in {timeout_seconds} s")
        time.sleep(0.05)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": round(statistics.median(ordered), 3), "p90": round(q[89], 3),
            "p99": round(q[98], 3), "min": round(ordered[0], 3), "n": len(ordered)}  # fmt: skip


async def direct(server: str, samples: int) -> list[float]:
    """Milliseconds to the first text delta, the SDK alone."""
    from anthropic import AsyncAnthropic

    client = AsyncAnthropic(api_key="bench", base_url=server, max_retries=0)
    out: list[float] = []
    try:
        for i in range(samples):
            t0 = time.perf_counter()
            stream = await client.messages.create(
                model="claude-sonnet-4-5", max_tokens=64, stream=True,
                messages=[{"role": "user", "content": f"direct {i}"}],
            )  # fmt: skip
            first: float | None = None
            async for event in stream:
                if first is None and event.type == "content_block_delta":
                    first = (time.perf_counter() - t0) * 1000
            assert first is not None
            out.append(first)
    finally:
        await client.close()
    return out


SEGMENTS = ("submit_to_started", "started_to_step", "step_to_chunk", "chunk_to_client")
"""Where the stack's time goes, from the events' worker/gateway timestamps (``ts``, epoch s)
and the client's clock (same machine): submit → ``job.started`` (gateway, queue, pickup),
→ ``step.started``, → the first ``step.chunk`` is published (ctx.llm: durable-call lookup,
span, the SDK call; compare with the SDK alone), → the client reads it (publish, SSE)."""


async def through_stack(
    gateway: str, key: str, samples: int
) -> tuple[list[float], dict[str, list[float]]]:
    """Milliseconds from submit to the first ``step.chunk`` at an SSE client, and its segments."""
    out: list[float] = []
    parts: dict[str, list[float]] = {name: [] for name in SEGMENTS}
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    async with httpx.AsyncClient(base_url=gateway, timeout=60, headers=headers) as client:
        for i in range(samples):
            wall0, t0 = time.time(), time.perf_counter()
            first: float | None = None
            seen: dict[str, float] = {}
            body = {"workflow": "llm_relay", "inputs": {"prompt": f"stack {i}"}}
            async with client.stream("POST", "/v1/jobs", json=body) as response:
                assert response.status_code == 200, await response.aread()
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    event = json.loads(line[5:])
                    seen.setdefault(event["type"], float(event["ts"]))
                    if first is None and event["type"] == "step.chunk":
                        first = (time.perf_counter() - t0) * 1000
                        seen["client"] = time.time()
                    if event["type"] in ("job.succeeded", "job.failed"):
                        assert event["type"] == "job.succeeded", event
                        break
            assert first is not None
            out.append(first)
            marks = [wall0, seen["job.started"], seen["step.started"], seen["step.chunk"],
                     seen["client"]]  # fmt: skip
            for name, (a, b) in zip(SEGMENTS, itertools.pairwise(marks), strict=True):
                parts[name].append((b - a) * 1000)
    return out, parts


REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
PG_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://root@127.0.0.1:5432/postgres")


def recreate_database() -> str:
    """Drop and create :data:`DATABASE`; its SQLAlchemy URL."""
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()

    asyncio.run(go())
    return f"postgresql+asyncpg://{PG_DSN.split('://', 1)[1].rsplit('/', 1)[0]}/{DATABASE}"


def start(procs: list[subprocess.Popen[bytes]]) -> tuple[str, str, str]:
    """Start the LLM server, migrate, create a key, start gateway and worker.

    Returns:
        ``(llm server URL, gateway URL, API key)``.
    """
    llm_port, gw_port = free_port(), free_port()
    server = f"http://127.0.0.1:{llm_port}"
    env = {
        **os.environ,
        "ORCH_REDIS__URL": REDIS_URL,
        "ORCH_DATABASE__URL": recreate_database(),
        "ORCH_WORKFLOWS": "benchmarks.llm_flows",
        "ORCH_STATE__KEY_PREFIX": f"bllm{os.getpid()}",
        "ORCH_QUEUE__NAME": f"bllm{os.getpid()}:queue",
        "ORCH_GATEWAY__PORT": str(gw_port),
        "ORCH_AUTH__SUBMIT_RATE_PER_KEY": "10000000/minute",
        "ORCH_AUTH__SUBMIT_RATE_PER_TENANT": "10000000/minute",
        "ORCH_AUTH__STREAM_RATE_PER_KEY": "10000000/minute",
        "ORCH_AUTH__STREAM_RATE_PER_TENANT": "10000000/minute",
        "ORCH_LLM__ANTHROPIC_API_KEY": "bench",
        "ORCH_LLM__ANTHROPIC_BASE_URL": server,
        "ORCH_LLM__MAX_RETRIES": "0",
    }

    def spawn(*argv: str) -> None:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", *argv],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    spawn("tests.support.llm_server", str(llm_port))
    wait_http(f"{server}/_log", procs)
    rule = {"match": None, "responses": [
        {"text": REPLY, "usage": {"input_tokens": 20, "output_tokens": 32}}]}  # fmt: skip
    httpx.post(f"{server}/_rules", json=rule, timeout=5).raise_for_status()
    cli = [sys.executable, "-m", "orchestrator.cli"]
    subprocess.run([*cli, "migrate"], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    key = subprocess.run(
        [*cli, "keys", "create", "--tenant", "bench", "--role", "admin", "--name", "llm-ttft"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    spawn("orchestrator.cli", "gateway", "--port", str(gw_port))
    spawn("orchestrator.cli", "worker")
    gateway = f"http://127.0.0.1:{gw_port}"
    wait_http(f"{gateway}/readyz", procs)
    return server, gateway, key


async def measure(server: str, gateway: str, key: str, samples: int, warmup: int) -> dict[str, Any]:
    """Warm up both paths, then SDK, stack, SDK again (against drift of a shared machine)."""
    await direct(server, warmup)
    await through_stack(gateway, key, warmup)
    sdk = await direct(server, samples)
    stack, parts = await through_stack(gateway, key, samples)
    sdk += await direct(server, samples)
    in_worker = await provider_ttft()
    return {
        "measured_at": datetime.now(UTC).isoformat(), "load_average": os.getloadavg(),
        "direct_sdk_ms": percentiles(sdk), "through_stack_ms": percentiles(stack),
        "added_p50_ms": round(statistics.median(stack) - statistics.median(sdk), 3),
        "segments_p50_ms": {name: round(statistics.median(v), 3) for name, v in parts.items()},
        "sdk_in_worker_ttft_ms": percentiles(in_worker),
        "target_added_p50_ms": 5.0,
    }  # fmt: skip


async def provider_ttft() -> list[float]:
    """The SDK's own time to first token inside the worker (``llm_calls.time_to_first_token_ms``,
    measured around ``provider.stream``): what the step's segment spends outside the SDK is
    ctx.llm's own work (durable-call lookup, span) and the worker's."""
    import asyncpg

    conn = await asyncpg.connect(PG_DSN.rsplit("/", 1)[0] + f"/{DATABASE}")
    try:
        rows = await conn.fetch("SELECT time_to_first_token_ms FROM llm_calls "
                                "WHERE time_to_first_token_ms IS NOT NULL")  # fmt: skip
    finally:
        await conn.close()
    return [float(r[0]) for r in rows]


def main(samples: int, warmup: int) -> dict[str, Any]:
    """Start everything, measure, stop everything."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        server, gateway, key = start(procs)
        return asyncio.run(measure(server, gateway, key, samples, warmup))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def write(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}-llm-ttft.json").write_text(json.dumps(result, indent=2) + "\n")
    d, s = result["direct_sdk_ms"], result["through_stack_ms"]
    md = RESULTS / f"{stamp}-llm-ttft.md"
    md.write_text(
        "# Time to first token: the whole stack against the SDK alone\n\n"
        "| path | p50 ms | p90 ms | p99 ms | min ms | n |\n|---|---|---|---|---|---|\n"
        f"| anthropic SDK → local server | {d['p50']} | {d['p90']} | {d['p99']} | {d['min']} | {d['n']} |\n"
        f"| submit → gateway → worker → ctx.llm.stream → SSE `step.chunk` | {s['p50']} | {s['p90']} "
        f"| {s['p99']} | {s['min']} | {s['n']} |\n\n"
        f"Added at p50: **{result['added_p50_ms']} ms** (target ≤ {result['target_added_p50_ms']} ms). "
        f"Load average: {result['load_average']}.\n\n"
        "Where the stack's time goes (p50 of each segment, ms): "
        + ", ".join(f"{k} {v}" for k, v in result["segments_p50_ms"].items())
        + "\n"
    )
    return md


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    outcome = main(args.samples, args.warmup)
    path = write(outcome)
    print(path.read_text())
