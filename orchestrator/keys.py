"""Every Redis key this project writes, built in one place (DESIGN §4).

arq's own keys (``arq:queue``, ``arq:job:<id>``, ``arq:in-progress:<id>``, ``arq:result:<id>``)
are arq's; we only name the queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.types import JobId, StepName

BUDGET_TTL_MARGIN_SECONDS = 24 * 3600
"""A budget counter outlives its window by this much (see :class:`Keys`)."""


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
    - ``streams``: a sorted set of open streams scored by heartbeat deadline; the key and each
      member lapse ``STREAM_SLOT_TTL_SECONDS`` after the last heartbeat (renewed while a stream
      is open), so a gateway that dies with streams open frees the key's slots within seconds.
    - ``mcp_tools``: ``mcp.tools_cache_ttl_seconds`` (5 min): a server's tool list changes with
      its deployment, rarely; the TTL bounds staleness when a ``tools/list_changed``
      notification is missed, and every process refreshes on one.
    - ``mcp_token``: until the access token is due for refresh (``expires_at - skew``), or
      ``MCP_TOKEN_CACHE_MAX_SECONDS`` for tokens without an expiry: a cached token is never served
      past the point where the token manager would refresh it; PostgreSQL keeps the tokens.
    - ``mcp_token_lock``: the lock's own timeout (a few seconds, longer than one bounded refresh),
      so a worker that dies while refreshing cannot block the others for longer.
    - ``budget``: until the end of its window (UTC day or month) plus ``BUDGET_TTL_MARGIN_SECONDS``
      (a day): a counter is read only within its window; the margin keeps the last one readable
      for reconciliation just after the window turns.
    - ``tag_cache``: ``tags.cache_ttl_seconds`` (30 min): an effective tag policy, also checked
      against the tenant's ``tag_generation`` on every read, so a change never waits for it.
    - ``tag_generation``: no TTL; a counter bumped on every change of a tenant's tags. It must
      outlive every cached policy (were it to vanish and restart at 0, an old entry could match).
    - ``session``, ``session_log``: ``sessions.ttl_seconds`` (2 h), extended on every use: a
      session is a conversation a client holds open; PostgreSQL keeps its history.
    - ``session_lock``: ``SESSION_LOCK_SECONDS`` (5 s): a gateway that dies holding it cannot
      block the session for longer.
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

    def mcp_token(self, server: str, user_key: str) -> str:
        """String: the Fernet-encrypted OAuth token set of an MCP server (``user_key`` is the
        user's id for ``per_user`` servers, else empty)."""
        return f"{self.prefix}:mcp:token:{server}:{user_key}"

    def mcp_token_lock(self, server: str, user_key: str) -> str:
        """String: redis-py lock serializing refreshes of one (server, user) across processes."""
        return f"{self.prefix}:mcp:token-lock:{server}:{user_key}"
    def budget(self, tenant: str, user: str | None, window: str) -> str:
        """Hash ``cost_nusd`` (nano-USD), ``tokens``: LLM spend of a tenant (``user`` ``None``)
        or one of its users in one window (``d20261203``, ``m202612``), DESIGN §16."""
        return f"{self.prefix}:budget:{tenant}:{user if user is not None else '-'}:{window}"

    def streams(self, subject: str) -> str:
        """Sorted set: the open SSE/WebSocket streams of one principal, by heartbeat deadline.

        (Named apart from the former ``streams:`` counters, so a rolling upgrade never meets a
        key of the other type.)
        """
        return f"{self.prefix}:streamslots:{subject}"

    def mcp_tools(self, server: str) -> str:
        """String: an MCP server's tool list (JSON), shared by gateways and workers."""
        return f"{self.prefix}:mcp:tools:{server}"
    def tag_cache(self, tenant: str, user: str | None, intent: str | None) -> str:
        """String: a principal's effective tag policy for an intent, JSON (``-``: none)."""
        return f"{self.prefix}:tagcache:{tenant}:{user or '-'}:{intent or '-'}"

    def tag_generation(self, tenant: str) -> str:
        """String counter: the tenant's tag generation (INCR on every change of its tags)."""
        return f"{self.prefix}:taggen:{tenant}"

    def session(self, session_id: str) -> str:
        """String: a session's live state, JSON (tasks, queued messages, policy, owner)."""
        return f"{self.prefix}:session:{session_id}"

    def session_log(self, session_id: str) -> str:
        """Stream: one entry per task started in the session (wakes its event streams)."""
        return f"{self.prefix}:session:{session_id}:log"

    def session_lock(self, session_id: str) -> str:
        """String: a short lock serialising changes of one session's state."""
        return f"{self.prefix}:session:{session_id}:lock"



__all__ = ["BUDGET_TTL_MARGIN_SECONDS", "Keys"]
