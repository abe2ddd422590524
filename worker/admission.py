"""Admission of a job run: the worker has the job's workflow version, and a concurrency slot.

A job that fails either check is queued again with a delay and a ``blocked`` reason the API
shows; it is never failed for it. When the reason changes (not on every poll), a ``job.blocked``
event tells the submitter's stream why nothing happens.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import structlog

from orchestrator.errors import WorkflowNotFoundError
from orchestrator.services import Services
from orchestrator.state.base import NewEvent
from orchestrator.state.records import JobState
from orchestrator.types import EventType, JSONValue

log = structlog.get_logger("worker.admission")


async def take_slot(services: Services, state: JobState) -> str | bool:
    """Take a concurrency slot of the job's workflow, or queue the job again for later.

    Returns:
        The slot set's key, ``True`` without a limit, or ``False`` when the limit is reached
        (the job was queued again and waits; it is not failed).
    """
    try:
        wf = services.registry.get(state.workflow)
    except WorkflowNotFoundError:
        return True
    if wf.concurrency is None:
        return True
    slot_key = services.keys.slots(wf.name, state.concurrency_key or "*")
    ttl = services.settings.lease.ttl_seconds
    if await services.state.acquire_slot(slot_key, state.job_id, wf.concurrency, ttl):
        return slot_key
    reason = f"concurrency limit {wf.concurrency} reached for {wf.name} {state.concurrency_key}"
    await requeue_blocked(
        services, state, reason, delay_seconds=services.settings.worker.concurrency_retry_seconds,
        data={"concurrency": wf.concurrency},
    )
    return False


async def version_matches(services: Services, state: JobState, worker_id: str) -> bool:
    """Leave a job pinned to another version of its workflow for a worker that has it."""
    try:
        wf = services.registry.get(state.workflow)
    except WorkflowNotFoundError:
        return True  # the run fails it with workflow_not_found
    if not state.version or state.version == wf.version:
        return True
    # No worker id in the reason: it must read the same from every worker of one version, so
    # the job.blocked event is published once per change, not once per worker poll.
    reason = (
        f"version mismatch: the job needs {state.workflow} {state.version}, "
        f"the workers polling it have {wf.version}"
    )
    log.info("job pinned to another version", job_id=state.job_id, worker=worker_id,
             version=state.version, worker_version=wf.version)  # fmt: skip
    await requeue_blocked(
        services, state, reason, delay_seconds=services.settings.worker.version_retry_seconds,
        data={"version": state.version, "worker_versions": [wf.version]},
    )
    return False


async def requeue_blocked(
    services: Services,
    state: JobState,
    reason: str,
    *,
    delay_seconds: float,
    data: Mapping[str, JSONValue] | None = None,
) -> None:
    """Queue the job again after ``delay_seconds`` under a new arq id, saying why it waits.

    A new arq job (rather than arq's own retry) keeps arq's ``max_tries`` from failing a job
    that only waits. The ``blocked`` field is set on every call; the ``job.blocked`` event
    (``{"reason", "version", ...data}``) only when the reason differs from the job's current one.

    Args:
        services: Connections and workflows.
        state: The job's live state as picked up (its ``blocked`` is the previous reason).
        reason: Why the job waits, for people (the API's ``blocked`` field).
        delay_seconds: When the job is tried again, in seconds.
        data: More of the event's payload (e.g. ``worker_versions``).
    """
    arq_job_id = f"{state.job_id}:wait:{uuid.uuid4().hex[:8]}"
    event = None
    if state.blocked != reason:
        payload: dict[str, JSONValue] = {"reason": reason, "version": state.version or None}
        payload.update(data or {})
        event = NewEvent(EventType.JOB_BLOCKED.value, data=payload)
    await services.state.update(
        state.job_id, {"blocked": reason, "arq_job_id": arq_job_id}, event
    )
    await services.queue.enqueue(
        state.job_id, arq_job_id=arq_job_id, trace=state.trace, defer_seconds=delay_seconds
    )
    log.info("job waits in the queue", job_id=state.job_id, reason=reason)


__all__ = ["requeue_blocked", "take_slot", "version_matches"]
