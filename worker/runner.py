"""Worker modes: long-lived (``orchestrator worker``) and one job (``--one-job``, KEDA pods).

``--one-job`` follows the pattern verified in ``shared/notes/keda-arq-k8s.md`` §3.1: an arq
burst worker with ``max_jobs=1`` whose ``on_job_start`` sets ``max_burst_jobs = 1`` (so it exits
after that job without head-of-line blocking behind another pod's job), plus an idle timeout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from typing import Any

import structlog
from arq import Worker
from arq.worker import func

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.heap import freeze_long_lived
from orchestrator.queue.arq import RUN_JOB, connect_redis, wake_key
from orchestrator.services import Services
from orchestrator.telemetry import Telemetry
from orchestrator.telemetry import current as current_telemetry
from worker.agent_hooks import AgentHooks
from worker.agents import AgentsHook
from worker.control import listen_for_cancels
from worker.executor import JobExecutor
from worker.hooks import ExecutionHook, HookChain
from worker.metrics import MetricsHook
from worker.metrics import push as push_metrics
from worker.metrics import serve as serve_metrics
from worker.reaper import reap_forever, reclaim_own
from worker.recorder import TraceRecorder
from worker.redis_health import RedisHealth
from worker.sessions import SessionHook
from worker.tasks import run_job
from worker.telemetry import LogContextHook, TracingHook
from worker.tools import ToolsHook
from worker.wakeable import WakeableWorker

log = structlog.get_logger("worker")

TELEMETRY_FLUSH_TIMEOUT_SECONDS = 5.0

ENDINGS_SETTLE_TIMEOUT_SECONDS = 10.0
"""How long an exiting worker waits for job ends still writing their rows (then their leases
lapse and a reaper records them)."""


def new_worker_id(stable_id: str | None = None) -> str:
    """The lease owner name of this process.

    Args:
        stable_id: ``worker.id`` when set (e.g. the pod name): the same name across restarts
            of the process, whose previous jobs the new process then reclaims at once.

    Returns:
        ``stable_id``, or ``<host>:<pid>:<random>``: unique per process, readable in traces.
    """
    return stable_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_worker(
    services: Services,
    *,
    one_job: bool = False,
    extra_hooks: list[ExecutionHook] | None = None,
    handle_signals: bool = True,
    telemetry: Telemetry | None = None,
    tools: ToolsHook | None = None,
    freeze_heap: bool = False,
) -> Worker:
    """Create the arq worker running ``run_job`` with this process's executor.

    Args:
        services: Open connections; the arq worker gets its own Redis pool.
        one_job: Take exactly one job, then exit.
        extra_hooks: Execution hooks beside the trace recorder, tracing, log context and metrics.
        handle_signals: Let arq install SIGINT/SIGTERM handlers.
        telemetry: The tracing pipeline (default: this process's, ``telemetry.current()``).
        tools: The ``ctx.tools`` hook (default: one on ``services`` with the default policy
            and no OAuth token source); its MCP manager is closed at shutdown.
        freeze_heap: Once started (a long-lived worker's warm-up begun), freeze the
            process's objects out of the cyclic collector's passes and turn the collector on
            (:func:`orchestrator.heap.freeze_long_lived`; a one-job worker without the full
            collection first): for a worker that owns its process, not one of many in a test
            process.

    Raises:
        ConfigError: The MCP server configuration is invalid.
    """
    settings = services.settings
    recorder = TraceRecorder(
        services.trace, flush_interval_seconds=settings.worker.trace_flush_interval_seconds
    )
    tel = telemetry if telemetry is not None else current_telemetry()
    tools_hook = tools if tools is not None else ToolsHook(services, tracer=tel.tracer)
    # ctx.tools, ctx.llm (DESIGN §16) and ctx.policy: built and warmed once the first job has
    # started, off the path to its job.started (a pod scaled from zero pays this start).
    agent = AgentHooks(services, tools_hook, tracer=tel.tracer,
                       warm_trace=lambda: _warm_trace_store(services))  # fmt: skip
    hooks: list[ExecutionHook] = [
        recorder,
        TracingHook(tel),
        LogContextHook(),
        MetricsHook(services.state),
        agent,
        AgentsHook(services),  # ctx.agents (DESIGN §17)
        SessionHook(services),  # a session's queued message starts when its task ends
    ]
    executor = JobExecutor(
        services,
        new_worker_id(settings.worker.id),
        HookChain([*hooks, *(extra_hooks or [])]),
        row_written=recorder.job_written,
    )
    background: list[asyncio.Task[Any]] = []
    health = RedisHealth()  # one view of Redis for the poll loop, reaper and control channel

    async def on_startup(ctx: dict[str, Any]) -> None:
        recorder.start()
        if settings.worker.id:  # before the first poll: later leases under the id are ours
            await reclaim_own(services, executor.worker_id)
        background.append(
            asyncio.get_running_loop().create_task(reap_forever(services, health=health))
        )
        background.append(
            asyncio.get_running_loop().create_task(
                listen_for_cancels(services, executor, health=health)
            )
        )
        log.info("worker started", worker_id=executor.worker_id, one_job=one_job)
        if not one_job:
            # A long-lived worker warms up at start, as before: its first job, which may come
            # at any time, finds everything loaded. A one-job pod does it after its job.started.
            agent.build_now()
            agent.warm()
        if freeze_heap:  # a one-job pod: no full collection before its job's start
            freeze_long_lived(collect=not one_job)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await executor.endings.settle(ENDINGS_SETTLE_TIMEOUT_SECONDS)  # rows, then leases
        await executor.leases.close()
        await recorder.stop()
        await agent.close()  # stdio MCP servers terminated, llm_calls rows written
        # Export buffered spans now: a one-job pod exits right after this (DESIGN §7).
        await asyncio.to_thread(tel.flush, TELEMETRY_FLUSH_TIMEOUT_SECONDS)

    worker: Worker

    job_started = asyncio.Event()

    async def on_job_start(ctx: dict[str, Any]) -> None:
        job_started.set()
        if one_job:
            worker.max_burst_jobs = 1

    assert settings.redis.url is not None
    worker = WakeableWorker(
        wake_key=wake_key(settings.queue.name),
        health=health,
        pickup=executor,  # the start check takes the job up (worker/arq_run.py)
        functions=[func(run_job, name=RUN_JOB)],
        queue_name=settings.queue.name,
        redis_pool=connect_redis(settings.redis.url, max_connections=16),
        burst=one_job,
        max_jobs=1 if one_job else settings.worker.max_jobs,
        poll_delay=settings.worker.poll_delay_seconds,
        job_timeout=settings.worker.job_timeout_seconds,
        keep_result=0,  # the job's result lives in its state (orch:job), not in arq's key
        max_tries=5,
        ctx={"executor": executor, "job_started": job_started, "health": health},
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        on_job_start=on_job_start,
        handle_signals=handle_signals,
        job_completion_wait=int(settings.worker.shutdown_grace_seconds),
        log_results=False,
    )
    if handle_signals:
        _drain_on_signals(worker, executor, grace=int(settings.worker.shutdown_grace_seconds))
    return worker


def _warm_trace_store(services: Services) -> None:
    """Build a deferred trace store in a thread now, not at the first write (which follows the
    first job's terminal event): its SQLAlchemy import overlaps the worker's waits on Redis."""
    build = getattr(services.trace, "build", None)
    if build is None or getattr(services.trace, "built", True):
        return

    def report(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.error("the trace store cannot be built", error=str(future.exception()))

    asyncio.get_running_loop().run_in_executor(None, build).add_done_callback(report)


def _cancelled_from_outside() -> bool:
    """Whether the running task itself is being cancelled (not just a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop_worker(
    worker: Worker, main: asyncio.Future[Any] | None, *, timeout_seconds: float = 10.0
) -> None:
    """Stop an arq worker run with ``async_run()`` inside another program (dev mode, tests).

    Waits (bounded) for runs in flight to return before cancelling the poll loop: arq's
    ``close()`` cancels whatever task is still running, even one only doing its bookkeeping
    after the job ended.
    """
    running = [t for t in worker.tasks.values() if not t.done()]
    if running:
        await asyncio.wait(running, timeout=timeout_seconds)
    if main is not None:
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)
    try:
        await worker.close()
    except asyncio.CancelledError:
        if _cancelled_from_outside():
            raise


def _drain_on_signals(worker: Worker, executor: JobExecutor, *, grace: int) -> None:
    """On SIGTERM/SIGINT: stop taking jobs, let running steps finish within the grace period.

    The executor starts no new step; when the running ones finish, each job is queued again at
    once (finished steps keep their checkpoints). arq's own handler then waits up to ``grace``
    seconds for the runs to return before it cancels them; a cancelled run keeps its lease,
    which lapses, and the reaper hands the job to another worker.
    """
    arq_handler = worker.handle_sig_wait_for_completion if grace > 0 else worker.handle_sig

    def on_signal(signum: signal.Signals) -> None:
        log.info("signal received: draining", signal=signum.name, grace_seconds=grace)
        executor.drain()
        arq_handler(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        worker.loop.add_signal_handler(sig, on_signal, sig)


async def run_worker(
    settings: Settings,
    *,
    one_job: bool = False,
    registry: WorkflowRegistry | None = None,
    handle_signals: bool = True,
) -> int:
    """Run a worker until stopped (or, with ``one_job``, until one job ran or none came).

    Args:
        settings: The process's settings.
        one_job: Run one job (to its end, or until it waits for input), then return.
        registry: Workflows; imported from ``settings.workflows`` when ``None``.
        handle_signals: Drain on SIGTERM/SIGINT (off when embedded in another program).

    Returns:
        The number of jobs this worker ran.
    """
    services = await Services.open(settings, registry, defer_trace=True)
    worker = build_worker(services, one_job=one_job, handle_signals=handle_signals,
                          freeze_heap=handle_signals)  # fmt: skip
    telemetry = settings.telemetry
    metrics_server = (
        serve_metrics(telemetry.metrics_port, telemetry.metrics_host)
        if telemetry.metrics_port
        else None
    )
    try:
        if one_job:
            if not await _run_one(worker, settings.worker.idle_timeout_seconds):
                log.info(
                    "no job within the idle timeout; exiting",
                    idle_timeout_seconds=settings.worker.idle_timeout_seconds,
                )
                return 0
        else:
            try:
                await worker.async_run()
            except asyncio.CancelledError:
                if _cancelled_from_outside():
                    raise
                # arq stopped its own poll loop after a signal: a normal shutdown.
        return worker.jobs_complete + worker.jobs_failed
    finally:
        await worker.close()
        await services.close()
        if telemetry.pushgateway_url:
            await push_metrics(telemetry.pushgateway_url, worker.ctx["executor"].worker_id)
        if metrics_server is not None:
            metrics_server.stop()


async def _run_one(worker: Worker, idle_timeout_seconds: float) -> bool:
    """Run the burst worker; give up if no job has started within the idle timeout.

    Returns:
        Whether a job ran.
    """
    main = asyncio.ensure_future(worker.async_run())
    started = asyncio.ensure_future(worker.ctx["job_started"].wait())
    try:
        await asyncio.wait(
            [main, started], timeout=idle_timeout_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if not started.done() and not main.done():
            main.cancel()
            await asyncio.gather(main, return_exceptions=True)
            return False
        try:
            await main
        except asyncio.CancelledError:
            if _cancelled_from_outside():
                raise
        return bool(started.done())
    finally:
        started.cancel()


__all__ = ["build_worker", "new_worker_id", "run_worker", "stop_worker"]
