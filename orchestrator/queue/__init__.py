"""The job queue: arq on Redis."""

from orchestrator.queue.arq import RUN_JOB, ArqQueue, connect_redis, wake_key

__all__ = ["RUN_JOB", "ArqQueue", "connect_redis", "wake_key"]
