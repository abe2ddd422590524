"""Every Redis key this project writes, built in one place (DESIGN §4).

arq's own keys (``arq:queue``, ``arq:job:<id>``, ``arq:in-progress:<id>``, ``arq:result:<id>``)
are arq's; we only name the queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.types import JobId, StepName


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder for one key prefix (``orch`` unless configured).

    TTLs, and why:
    - ``job``, ``state``, ``call``, ``events``: ``state.ttl_seconds`` after the job ends — long enough for
      late clients to replay a stream and for ``GET .../output``; PostgreSQL keeps the history.
      They also get that TTL when written, so an abandoned job cannot leak keys forever.
    - ``lease``: ``lease.ttl_seconds`` (a few seconds), renewed by the owner's heartbeat; when the
      owner dies the key lapses and another worker resumes the job.
    - ``leases``: no TTL; a sorted set indexing running jobs by lease deadline (ms) so that
      workers find lapsed leases with one ZRANGEBYSCORE; members are removed when jobs end.
    - ``cache``: ``cache_ttl_seconds`` of the step.
    - ``idem``: ``state.idempotency_window_seconds``: the window within which a repeated submit
      returns the first job.
    - ``rate_limits``: a prefix; the ``limits`` library's moving windows expire with their window.
    - ``streams``: ``STREAM_SLOT_TTL_SECONDS`` (1 h), renewed on each open: a gateway that dies
      with streams open cannot hold a key's slots for longer.
    - ``ui_session``: ``ui.session_ttl_seconds`` from login: a dashboard session ends then even
      if nobody logs out.
    - ``slots``: no TTL; members carry their own deadline (the lease's) and stale ones are
      dropped whenever a slot is taken, so a dead worker's slot frees itself.
    """

    prefix: str = "orch"

    def job(self, job_id: JobId) -> str:
        """Hash: status, workflow, inputs, per-step status and attempts, event seq."""
        return f"{self.prefix}:job:{job_id}"

    def state(self, job_id: JobId, step: StepName) -> str:
        """String: a step's checkpointed (serialized) output."""
        return f"{self.prefix}:state:{job_id}:{step}"

    def call(self, job_id: JobId, step: StepName, seq: int) -> str:
        """String: the record of a step's ``seq``-th durable call (DESIGN §13); the same TTL
        as the step's checkpoint, which it belongs to."""
        return f"{self.prefix}:state:{job_id}:{step}:call:{seq}"

    def events(self, job_id: JobId) -> str:
        """Stream: the job's events; entry ids are the SSE event ids."""
        return f"{self.prefix}:events:{job_id}"

    def lease(self, job_id: JobId) -> str:
        """String: the id of the worker running the job."""
        return f"{self.prefix}:lease:{job_id}"

    def leases(self) -> str:
        """Sorted set: running job id → lease deadline in epoch milliseconds."""
        return f"{self.prefix}:leases"

    def cache(self, step: StepName, fingerprint: str) -> str:
        """String: a memoized step output."""
        return f"{self.prefix}:cache:{step}:{fingerprint}"

    def control(self) -> str:
        """Pub/sub channel: job ids whose cancel was just requested (workers stop them at once;
        the job hash's ``cancel`` flag stays the source of truth for workers that miss it)."""
        return f"{self.prefix}:control"

    def idempotency(self, tenant: str | None, key: str) -> str:
        """String: the job id first submitted with this idempotency key by this tenant."""
        return f"{self.prefix}:idem:{tenant or '-'}:{key}"

    def ui_session(self, session_hash: str) -> str:
        """Hash: a dashboard session (principal, key id, CSRF token), by the SHA-256 of its
        cookie value, so that a read of Redis does not yield usable cookies."""
        return f"{self.prefix}:ui:session:{session_hash}"

    def slots(self, workflow: str, concurrency_key: str) -> str:
        """Sorted set: running job id → slot deadline (ms) under a concurrency limit."""
        return f"{self.prefix}:slots:{workflow}:{concurrency_key}"

    def rate_limits(self) -> str:
        """Prefix of the ``limits`` library's rate-limit windows (sorted sets)."""
        return f"{self.prefix}:ratelimit"

    def streams(self, subject: str) -> str:
        """String counter: open SSE/WebSocket connections of one principal."""
        return f"{self.prefix}:streams:{subject}"


__all__ = ["Keys"]
