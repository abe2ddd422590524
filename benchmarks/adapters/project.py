"""AgentOrchestrator, run as users run it: ``orchestrator gateway`` and ``orchestrator worker``
as separate processes, jobs submitted and followed over HTTP with the SDK's ``AsyncClient`` (SSE),
WebSocket for workload (e).

Isolation: its own Redis DB index, key prefix ``bench`` and arq queue ``bench:queue``; its own
PostgreSQL database ``orch_bench``, recreated and migrated (``orchestrator migrate``) at start.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from benchmarks.adapters.base import StreamResult
from benchmarks.adapters.common import HasWorkers, WorkerProcesses
from benchmarks.infra import Infra
from benchmarks.procs import ROOT, Child, free_port, wait_for
from sdk import AsyncClient as Client

TERMINAL = {"job.succeeded", "job.failed", "job.cancelled"}
PRIVATE_REDIS = {"aof-everysec": True, "private-redis": False}
"""Variants on a redis-server of their own: with AOF (everysec), and the control without it
(the shared Redis also serves other work on this machine, so it is no control for AOF)."""
PACKAGES = ("orchestrator", "worker", "gateway", "sdk")
"""The project's packages (compiled to bytecode before workload h)."""
ENQUEUE_CONCURRENCY = 16
"""Submits in flight at once in workload (b)."""
AUTH_LIMITS = {
    "ORCH_AUTH__SUBMIT_RATE_PER_KEY": "10000000/minute",
    "ORCH_AUTH__SUBMIT_RATE_PER_TENANT": "10000000/minute",
    "ORCH_AUTH__STREAM_RATE_PER_KEY": "10000000/minute",
    "ORCH_AUTH__STREAM_RATE_PER_TENANT": "10000000/minute",
    "ORCH_AUTH__MAX_STREAMS_PER_KEY": "100000",
}


class ProjectSystem(HasWorkers):
    """This project, in one configuration.

    Args:
        infra: Shared services.
        variant: ``default``; ``aof-everysec`` (a private Redis with ``appendfsync everysec``) or
            ``private-redis`` (a private Redis without AOF, its control), both for (a) and (d).
        env: Extra ``ORCH_*`` settings of this variant.
        fanout_widths, chain_lengths: Workflows to build (passed to every process).
    """

    name = "agent-orchestrator"
    workloads = frozenset("abcdefghi")

    def __init__(
        self,
        infra: Infra,
        *,
        variant: str = "default",
        env: dict[str, str] | None = None,
        fanout_widths: list[int],
        chain_lengths: list[int],
    ) -> None:
        self.infra = infra
        self.variant = variant
        self.notes: dict[str, str] = {}
        if variant in PRIVATE_REDIS:  # (d) with and without AOF; (a) is cheap context
            self.workloads = frozenset("ad")
        self._extra_env = dict(env or {})
        self._widths = fanout_widths
        self._lengths = chain_lengths
        self._redis_port: int | None = None
        self.workers = WorkerProcesses(f"orch-{variant}", infra.log_dir)
        self.gateway: Child | None = None
        self.url = ""
        self.client: Client | None = None
        self.redis: aioredis.Redis | None = None
        self.env: dict[str, str] = {}
        self.config: dict[str, Any] = {}
        self.api_key: str | None = None

    async def start(self) -> None:
        if self.variant in PRIVATE_REDIS:
            self._redis_port = self.infra.start_aof_redis(appendonly=PRIVATE_REDIS[self.variant])
        db = "orch_bench"
        await self.infra.recreate_database(db)
        self.infra.flush("agent-orchestrator", port=self._redis_port)
        port = free_port()
        self.env = {
            "ORCH_REDIS__URL": self.infra.redis_url("agent-orchestrator", port=self._redis_port),
            "ORCH_DATABASE__URL": self.infra.pg_url(db),
            "ORCH_WORKFLOWS": "benchmarks.adapters.project_flows",
            "ORCH_STATE__KEY_PREFIX": "bench",
            "ORCH_QUEUE__NAME": "bench:queue",
            "ORCH_GATEWAY__PORT": str(port),
            "BENCH_FANOUT_WIDTHS": ",".join(map(str, self._widths)),
            "BENCH_CHAIN_LENGTHS": ",".join(map(str, self._lengths)),
            # Auth stays on (the gateway refuses to run without it); its per-key limits would
            # throttle a benchmark, so they are raised. Ignored by builds without auth.
            **AUTH_LIMITS,
            **self._extra_env,
        }
        self.config = {
            "transport": "HTTP gateway (SDK Client.run: one POST answered with SSE) + separate "
                         "worker processes",
            "redis": {"aof-everysec": "private, appendonly yes, appendfsync everysec",
                      "private-redis": "private, appendonly no"}.get(self.variant, "shared"),
            **{k: v for k, v in self.env.items() if k.startswith("ORCH_") and "URL" not in k},
        }
        migrate = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "orchestrator.cli", "migrate"],
            cwd=ROOT, env={**os.environ, **self.env}, capture_output=True, timeout=120,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"orchestrator migrate failed: {migrate.stderr.decode()[-2000:]}")
        self.api_key = await self._create_api_key()
        self.config["auth"] = "API key (admin)" if self.api_key else "none"
        self.gateway = Child(
            f"orch-{self.variant}-gateway",
            ["python", "-m", "orchestrator.cli", "gateway", "--port", str(port)],
            env=self.env, log_dir=self.infra.log_dir,
        )
        self.url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(
            wait_for,
            lambda: httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200,
            timeout_seconds=60, what="the gateway", children=[self.gateway],
        )
        self.client = Client(self.url, api_key=self.api_key, timeout_seconds=120)
        # A bigger pool than httpx's default for 100 SSE clients in workload (e).
        self.client._http = httpx.AsyncClient(
            base_url=self.url, timeout=120, limits=httpx.Limits(max_connections=300),
            headers=self._auth_headers(),
        )
        self.redis = aioredis.Redis.from_url(self.env["ORCH_REDIS__URL"])

    async def _create_api_key(self) -> str | None:
        """``orchestrator keys create`` (admin) when this build has API keys, else ``None``."""
        argv = [sys.executable, "-m", "orchestrator.cli", "keys", "create", "--tenant", "bench",
                "--role", "admin", "--name", "benchmarks"]
        done = await asyncio.to_thread(
            subprocess.run, argv, cwd=ROOT, env={**os.environ, **self.env}, capture_output=True,
            timeout=60,
        )
        if done.returncode != 0:
            if b"No such command" in done.stderr:
                return None
            raise RuntimeError(f"orchestrator keys create failed: {done.stderr.decode()[-2000:]}")
        return done.stdout.decode().strip().splitlines()[-1]

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    async def stop(self) -> None:
        await self.stop_workers()
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self._redis_port is not None:
            self.infra.stop_aof_redis()
            self._redis_port = None

    async def start_workers(self, count: int) -> None:
        # A stable worker id, as a Deployment's pod name: a replacement reuses the dead one's
        # and reclaims its jobs at once (the DBOS adapter does the same with its executor id).
        await self.workers.start(
            count,
            lambda slot: (["python", "-m", "orchestrator.cli", "worker"],
                          {**self.env, "ORCH_WORKER__ID": f"bench-w{slot}"}),
            ready="worker started", tail_chars=100_000,
        )

    # -- workloads -----------------------------------------------------------------------

    async def _run(self, workflow: str, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        """Submit and stream in one request (``Client.run``: POST /v1/jobs, SSE answer)."""
        assert self.client is not None
        return self._ended(await self._kept(self.client.run(workflow, inputs)))

    async def _follow(self, job_id: str) -> list[dict[str, Any]]:
        assert self.client is not None
        return self._ended(await self._kept(self.client.events(job_id)))

    @staticmethod
    async def _kept(events: AsyncIterator[Any]) -> list[dict[str, Any]]:
        return [e.model_dump() async for e in events if e.type in ("job.started", *TERMINAL)]

    @staticmethod
    def _ended(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if seen[-1]["type"] != "job.succeeded":
            raise RuntimeError(f"job {seen[-1]['job_id']} ended {seen[-1]}")
        return seen

    async def diamond(self) -> float | None:
        events = await self._run("bench_diamond", {})
        started = next(e for e in events if e["type"] == "job.started")
        return float(events[-1]["ts"]) - float(started["ts"])

    async def enqueue_noops(self, count: int) -> None:
        """``count`` single submits, 16 in flight, from a child process with raw keep-alive
        connections (:mod:`benchmarks.adapters.submit_clients`): the gateway's rate, not the
        measuring client's. :meth:`enqueue_noops_sdk` measures the SDK's client."""
        import orjson

        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.adapters.submit_clients", cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdin is not None and child.stdout is not None
            if (await child.stdout.readline()).strip() != b"up":
                raise RuntimeError("the submit client process did not start")
            child.stdin.write(orjson.dumps({
                "url": self.url, "path": "/v1/jobs", "headers": self._auth_headers(),
                "body": {"workflow": "bench_noop", "inputs": {}}, "count": count,
                "connections": ENQUEUE_CONCURRENCY,
            }) + b"\n")
            await child.stdin.drain()
            line = (await child.stdout.readline()).decode().strip()
            if not line.startswith("done "):
                raise RuntimeError(f"the submit client failed: {line or 'no answer'}")
            if int(line.split()[1]) != count:
                raise RuntimeError(f"the submit client answered {line.split()[1]} of {count}")
            await child.wait()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()

    async def enqueue_noops_sdk(self, count: int) -> None:
        """``count`` single submits, 16 in flight, through the SDK's ``AsyncClient`` (httpx) in
        this process: what a Python caller of the SDK sees (the client's CPU included)."""
        assert self.client is not None
        client = self.client
        sem = asyncio.Semaphore(ENQUEUE_CONCURRENCY)

        async def one() -> None:
            async with sem:
                await client.submit("bench_noop", {})

        await asyncio.gather(*(one() for _ in range(count)))

    async def enqueue_noops_batched(self, count: int, size: int) -> None:
        """``count`` no-op jobs through ``POST /v1/jobs/batch``, ``size`` per request, two
        requests in flight (workload i)."""
        assert self.client is not None
        client = self.client
        sem = asyncio.Semaphore(2)

        async def one(n: int) -> None:
            async with sem:
                answers = await client.submit_batch([{"workflow": "bench_noop"}] * n)
                if any(a.error is not None for a in answers):
                    raise RuntimeError(f"batch refused jobs: {answers[0].error}")

        sizes = [min(size, count - i) for i in range(0, count, size)]
        await asyncio.gather(*(one(n) for n in sizes))

    async def clear_queue(self) -> None:
        """Remove every queued job (workload i leaves no work for the next workload)."""
        assert self.redis is not None
        await self.redis.delete("bench:queue")

    async def noops_remaining(self) -> int:
        assert self.redis is not None
        return int(await self.redis.zcard("bench:queue"))

    async def fanout(self, width: int) -> None:
        await self._run(f"bench_fanout_{width}", {})

    async def chain(self, length: int, size_bytes: int) -> None:
        await self._run(f"bench_chain_{length}", {"size": size_bytes})

    async def stream(
        self, chunks: int, clients: int, transport: str, interval_ms: float
    ) -> StreamResult:
        """The clients run in ``BENCH_STREAM_PROCS`` (default 4) child processes
        (:mod:`benchmarks.adapters.stream_clients`), started before the job is submitted; the
        step starts yielding 1 s + 20 ms per client after the submit, by when every client has
        connected (``late_connect`` says when one had not)."""
        import orjson

        assert self.client is not None
        procs = max(1, min(clients, int(os.environ.get("BENCH_STREAM_PROCS", "4"))))
        shares = [clients // procs + (1 if k < clients % procs else 0) for k in range(procs)]
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "benchmarks.adapters.stream_clients", cwd=ROOT,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )
            for _ in shares
        ]
        try:
            for child in children:
                assert child.stdout is not None
                if (await child.stdout.readline()).strip() != b"up":
                    raise RuntimeError("a stream client process did not start")
            start_at = time.time() + 1.0 + 0.02 * clients
            job = await self.client.submit(
                "bench_stream", {"chunks": chunks, "interval_ms": interval_ms,
                                 "start_at": start_at}
            )
            for k, (child, n) in enumerate(zip(children, shares, strict=True)):
                assert child.stdin is not None
                child.stdin.write(orjson.dumps({
                    "job_id": job.job_id, "url": self.url, "headers": self._auth_headers(),
                    "transport": transport, "clients": n,
                    "out": os.path.join(self.infra.log_dir, f"stream-clients-{k}.json"),
                }) + b"\n")
                await child.stdin.drain()
            connected_at = []
            for child in children:
                assert child.stdout is not None
                line = (await child.stdout.readline()).split()
                if not line or line[0] != b"connected":
                    raise RuntimeError("a stream client process failed to connect")
                connected_at.append(float(line[1]))
            late = max(connected_at) > start_at
            outputs = []
            for k, child in enumerate(children):
                assert child.stdout is not None
                if (await child.stdout.readline()).strip() != b"done":
                    raise RuntimeError("a stream client process failed")
                await child.wait()
                path = Path(self.infra.log_dir) / f"stream-clients-{k}.json"
                outputs.append(orjson.loads(await asyncio.to_thread(path.read_bytes)))
        finally:
            for child in children:
                if child.returncode is None:
                    child.kill()
                    await child.wait()
        result = StreamResult(client_procs=procs, late_connect=late)
        for per_client in outputs:
            for received in per_client:
                counts = Counter(i for i, _ in received)
                result.lost += sum(1 for i in range(chunks) if i not in counts)
                result.duplicated += sum(n - 1 for n in counts.values() if n > 1)
                result.latencies_ms.extend(lat for _, lat in received)
        return result

    async def cold_start(self, runs: int) -> dict[str, Any]:
        """Workload (h): ``runs`` times, queue a 1-step job with no worker running, exec
        ``orchestrator worker --one-job`` and take its ``job.started`` timestamp; then the
        import time of ``worker.runner`` and the RSS of an idle long-lived worker."""
        import psutil

        assert self.client is not None
        # As the image does (Dockerfile: pip compiles every module): this tree is an editable
        # install, and PYTHONDONTWRITEBYTECODE (set in the image and often in CI) would have
        # every start compile the project's sources again (~0.1 s of CPU).
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "compileall", "-q", *PACKAGES],
            cwd=ROOT, capture_output=True, timeout=300, check=True,
        )
        started: list[float] = []
        for i in range(runs):
            job = await self.client.submit("bench_noop", {})
            t0 = time.time()
            cli = os.path.join(os.path.dirname(sys.executable), "orchestrator")
            # The benchmark's generated 1,000-step workflows are not imported: (h) is the
            # runtime's start with a small workflow module, as a typical pod's.
            child = self.workers.spawn([cli, "worker", "--one-job"],
                                       {**self.env, "ORCH_WORKER__ID": f"bench-cold-{i}",
                                        "BENCH_FANOUT_WIDTHS": "", "BENCH_CHAIN_LENGTHS": ""})
            events = await self._follow(job.job_id)
            at = next(float(e["ts"]) for e in events if e["type"] == "job.started")
            started.append(at - t0)
            await asyncio.to_thread(child.proc.wait, 30)
            await self.stop_workers()
        imports: list[float] = []
        for _ in range(5):
            done = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-X", "importtime", "-c", "import worker.runner"],
                cwd=ROOT, env={**os.environ, **self.env}, capture_output=True, timeout=60,
            )
            last = done.stderr.decode().strip().splitlines()[-1]
            imports.append(int(last.split("|")[1]) / 1e6)
        await self.start_workers(1)
        try:
            await asyncio.sleep(3.0)  # the background warm-ups after start
            pid = self.workers.pids()[0]
            rss = psutil.Process(pid).memory_info().rss
        finally:
            await self.stop_workers()
        return {"started_s": started, "import_s": imports, "idle_rss_mb": round(rss / 2**20, 1)}

    async def crash_submit(self, marker_dir: str, length: int, crash_at: int) -> Any:
        assert self.client is not None
        job = await self.client.submit(
            f"bench_crash_{length}", {"marker_dir": marker_dir, "crash_at": crash_at}
        )
        return asyncio.ensure_future(self._follow(job.job_id))

    async def crash_wait(self, handle: Any, timeout_seconds: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(handle), timeout_seconds)
            return True
        except (TimeoutError, RuntimeError):
            handle.cancel()
            return False


__all__ = ["ProjectSystem"]
