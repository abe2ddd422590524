"""The job lease keeper: keeps this worker's ``orch:lease:{job_id}`` alive and notices cancels
(DESIGN §7).

One keeper per worker process renews every lease the process holds, every third of the lease
TTL: the renewals are made in one event-loop turn, so they leave in one Redis pipeline
(``orchestrator/state/turn_batch.py``). A job costs a dictionary entry, not a task and a timer of
its own (with short jobs, creating and cancelling those was a visible share of a worker's CPU).
A lease taken just after a round is renewed at the next one, at most ``ttl / 3`` later, as a
per-job heartbeat started at pickup would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from orchestrator.errors import StateError
from orchestrator.state.base import StateStore
from orchestrator.types import JobId

log = structlog.get_logger("worker.lease")


@dataclass
class _Held:
    on_lost: Callable[[], None]
    on_cancel: Callable[[], None]
    slot_key: str | None
    cancel_seen: bool = False


class LeaseKeeper:
    """Renews the leases this worker holds, all in one round per ``ttl_seconds / 3``.

    Args:
        store: The state store.
        worker_id: This worker (the leases' owner).
        ttl_seconds: Lease lifetime; every held lease is renewed every ``ttl_seconds / 3``.
    """

    def __init__(self, store: StateStore, worker_id: str, ttl_seconds: float) -> None:
        self._store = store
        self._worker_id = worker_id
        self._ttl = ttl_seconds
        self._held: dict[JobId, _Held] = {}
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._held)

    def hold(
        self,
        job_id: JobId,
        *,
        on_lost: Callable[[], None],
        on_cancel: Callable[[], None],
        slot_key: str | None = None,
    ) -> None:
        """Keep renewing the lease of ``job_id`` (just taken) until :meth:`drop`.

        Args:
            job_id: The job whose lease this worker holds.
            on_lost: Called once if another worker took the lease (the run must stop); the
                lease is then no longer renewed.
            on_cancel: Called once when a cancel of the job is requested.
            slot_key: The job's concurrency slot set, renewed with the lease.
        """
        self._held[job_id] = _Held(on_lost, on_cancel, slot_key)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._keep(), name="leases")

    def drop(self, job_id: JobId) -> None:
        """Stop renewing the lease of ``job_id`` (the caller releases it, or lets it lapse)."""
        self._held.pop(job_id, None)
        if not self._held and self._task is not None:  # no timer left behind while idle
            self._task.cancel()
            self._task = None

    async def close(self) -> None:
        """Stop renewing every lease (the worker is exiting; held ones lapse)."""
        self._held.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _keep(self) -> None:
        while self._held:
            await asyncio.sleep(self._ttl / 3)
            await self.renew_all()

    async def renew_all(self) -> None:
        """Renew every held lease now (one pipeline); tell the runs of lost and cancelled ones.

        A failed renewal is logged and tried again at the next round, before the TTL runs out.
        """
        held = list(self._held.items())
        answers = await asyncio.gather(
            *(self._store.renew_lease(j, self._worker_id, self._ttl, h.slot_key) for j, h in held),
            return_exceptions=True,
        )
        for (job_id, h), answer in zip(held, answers, strict=True):
            if self._held.get(job_id) is not h:  # dropped while the round was out
                continue
            if isinstance(answer, StateError):
                log.warning("lease renewal failed", job_id=job_id, error=str(answer))
            elif isinstance(answer, BaseException):
                raise answer
            elif answer == "LOST":
                log.warning("lease lost to another worker", job_id=job_id)
                self._held.pop(job_id, None)
                h.on_lost()
            elif answer == "CANCEL" and not h.cancel_seen:
                h.cancel_seen = True
                h.on_cancel()


__all__ = ["LeaseKeeper"]
