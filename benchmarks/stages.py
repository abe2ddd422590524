"""CPU milliseconds per job by stage of the path, from py-spy's raw (collapsed) stacks.

Each sample goes to exactly one stage: the innermost frame of its stack that matches a stage's
pattern decides (a Redis read under the rate limiter is the rate limiter's; under the row insert
it is the insert's); a stack no stage matches goes to the first library bucket it touches
(uvicorn, the event loop, ...), else to ``other``. So the stages add up to
the process's sampled CPU time, unlike :func:`benchmarks.profile.summarize`'s overlapping
categories. Milliseconds = samples / rate / jobs (py-spy samples only running threads unless
``--idle``; ``--nonblocking`` samples can miss a few).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

GATEWAY_STAGES: dict[str, str] = {
    "auth (credential → principal)": r"orchestrator/auth/(authenticator|apikeys|keycache|tokens)\.py"
                                     r"|gateway/auth\.py.*principal_of",
    "rate limit": r"orchestrator/auth/ratelimit\.py|/limits/|gateway/ratelimit",
    "stream slot": r"orchestrator/auth/streams\.py",
    "input checks (storable, validation)": r"gateway/security\.py.*check_inputs|orchestrator/storable"
                                           r"|validate_inputs|_check_storable",
    "row insert (jobs + audit, PostgreSQL)": r"insert_job|insert_jobs|orchestrator/trace/|"
                                             r"orchestrator/jobs/rows",
    "live state create (Redis)": r"create_job \(orchestrator/state|orchestrator/state/",
    "enqueue (Redis)": r"orchestrator/queue/",
    "SSE answer (hub, frames, send)": r"gateway/streaming/",
    "submit handler (route, JobService)": r"gateway/routes/|orchestrator/jobs/",
    "middleware (access log, request id, headers)": r"gateway/(access|security|app|metrics)\.py",
}
"""The gateway's submit path, ``POST /v1/jobs`` answered with SSE."""

MIDDLEWARE = "middleware (access log, request id, headers)"
FRAMEWORK = "FastAPI/Starlette (routing, body, deps)"
_FRAMEWORK = re.compile(r"fastapi/|starlette/")

GATEWAY_GENERIC: dict[str, str] = {
    "FastAPI/Starlette (routing, body, deps)": r"fastapi/|starlette/",
    "logging": r"structlog|logging/",
    "uvicorn/httptools (HTTP parse, write)": r"uvicorn/|httptools",
    "redis-py / asyncpg outside a stage": r"redis/|asyncpg/|sqlalchemy/",
    "asyncio event loop": r"asyncio/",
}
"""Library time outside every stage of :data:`GATEWAY_STAGES`, first match in this order."""

WORKER_STAGES: dict[str, str] = {
    "wake + queue read (WakeableWorker, arq)": r"worker/wakeable\.py|arq/worker\.py.*"
                                               r"(_poll_iteration|start_jobs|main|run_jobs)",
    "pickup (PICKUP script, lease, job.started)": r"pickup|worker/lease\.py|worker/admission",
    "executor + step": r"worker/(executor|step_runner|invoke|fanout)\.py",
    "events (publisher)": r"worker/publisher\.py",
    "ending (terminal event, row queue, lease free)": r"worker/endings\.py",
    "trace rows (PostgreSQL, recorder)": r"worker/recorder\.py|orchestrator/trace/|sqlalchemy/|"
                                         r"asyncpg/",
    "run_job (worker/run.py)": r"worker/run\.py|worker/runner\.py",
}
"""The worker's path for one job: wake, pickup, run, terminal event, row."""

WORKER_GENERIC: dict[str, str] = {
    "arq (poll, finish: result, in-progress keys)": r"arq/",
    "logging": r"structlog|logging/",
    "redis-py outside a stage": r"redis/",
    "asyncio event loop": r"asyncio/",
}
"""Library time outside every stage of :data:`WORKER_STAGES`, first match in this order."""


def split(
    raw: Path, stages: dict[str, str], generic: dict[str, str], *, jobs: int, rate_hz: int
) -> dict[str, float]:
    """CPU ms per job of each stage (and ``other``, and ``total``), largest first.

    Args:
        raw: A py-spy ``--format raw`` file (``frame;frame;...;leaf count`` per line, root first;
            a frame is ``function (path:line)``).
        stages: ``{stage: regular expression searched in one frame}``; the innermost matching
            frame of a stack decides.
        generic: Library buckets for stacks no stage matches, tried in order.
        jobs: Jobs run while sampling.
        rate_hz: py-spy's ``--rate``.
    """
    specific = [(name, re.compile(rx)) for name, rx in stages.items()]
    fallback = [(name, re.compile(rx)) for name, rx in generic.items()]
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            counts[_stage_of(stack.split(";"), specific, fallback)] += int(count)
    per_job = 1000 / rate_hz / max(jobs, 1)
    out = {name: round(n * per_job, 3) for name, n in counts.most_common()}
    out["total"] = round(sum(counts.values()) * per_job, 3)
    return out


def _stage_of(
    frames: list[str],
    specific: list[tuple[str, re.Pattern[str]]],
    fallback: list[tuple[str, re.Pattern[str]]],
) -> str:
    for depth in range(len(frames) - 1, -1, -1):  # innermost first
        for name, rx in specific:
            if rx.search(frames[depth]):
                if name == MIDDLEWARE and _FRAMEWORK.search(";".join(frames[depth + 1:])):
                    # the app runs inside the middlewares: what the framework does under them
                    # (routing, dependencies, body, response) is the framework's, not theirs
                    return FRAMEWORK
                return name
    for name, rx in fallback:
        if any(rx.search(frame) for frame in frames):
            return name
    return "other"


__all__ = ["GATEWAY_GENERIC", "GATEWAY_STAGES", "WORKER_GENERIC", "WORKER_STAGES", "split"]
