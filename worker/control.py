"""The worker's control channel: cancels reach the running job at once, not at its next heartbeat.

The gateway publishes a job id on ``orch:control`` after flagging the cancel in the job hash; each
worker process listens on one pub/sub connection and stops the run if the job is its own. A worker
that misses the message (reconnecting) still sees the flag at its next lease renewal.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from orchestrator.services import Services
from worker.executor import JobExecutor
from worker.redis_health import REDIS_OUTAGE_ERRORS, RedisHealth

log = structlog.get_logger("worker.control")

RECONNECT_SECONDS = 1.0


async def listen_for_cancels(
    services: Services, executor: JobExecutor, *, health: RedisHealth | None = None
) -> None:
    """Subscribe to the control channel and cancel local runs it names, until cancelled.

    Args:
        services: Connections.
        executor: This process's runs.
        health: This process's Redis health: a lost channel is reported there (logged once
            per outage) and resubscribed after its backoff.
    """
    channel = services.keys.control()
    while True:
        pubsub = services.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            async for message in pubsub.listen():
                job_id = message["data"].decode() if isinstance(message["data"], bytes) else ""
                if job_id and executor.cancel_local(job_id):
                    log.info("cancel received", job_id=job_id)
        except REDIS_OUTAGE_ERRORS as exc:
            if health is None:
                log.warning("control channel lost; reconnecting", error=str(exc))
                delay = RECONNECT_SECONDS
            else:
                health.failed(exc, source="control")
                delay = max(RECONNECT_SECONDS, health.delay_seconds())
            await asyncio.sleep(delay)
        finally:
            with contextlib.suppress(*REDIS_OUTAGE_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


__all__ = ["listen_for_cancels"]
