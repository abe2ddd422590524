"""The worker: arq settings, the DAG executor, and the worker modes (long-lived, ``--one-job``)."""

import orchestrator  # noqa: F401  # first: its start-up import settings (orchestrator/deferred.py)
from worker.executor import JobExecutor
from worker.hooks import AttemptRecord, ExecutionHook, HookChain, JobRun
from worker.runner import build_worker, run_worker

__all__ = [
    "AttemptRecord",
    "ExecutionHook",
    "HookChain",
    "JobExecutor",
    "JobRun",
    "build_worker",
    "run_worker",
]
