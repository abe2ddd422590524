"""A session's live state in Redis (``orch:session:{id}``, JSON), under a short per-session lock.

The state holds the session's owner, its ``on_busy`` policy, its tasks (one job each, in order)
and the messages queued behind the running task. Its TTL (``sessions.ttl_seconds``, 2 h) is
extended on every use.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from redis.asyncio import Redis

from orchestrator.errors import StateError
from orchestrator.keys import Keys
from orchestrator.sessions.errors import SessionNotFoundError

OnBusy = Literal["reject", "enqueue", "interrupt"]
SESSION_LOCK_SECONDS = 5.0
"""How long one change may hold a session's lock (a dead gateway's lock lapses after this)."""
LOCK_WAIT_SECONDS = 10.0


@dataclass(slots=True)
class SessionTask:
    """One task of a session: the message that started it and its job."""

    job_id: str
    message: str
    recorded: bool = False  # its reply is in the history table


@dataclass(slots=True)
class SessionState:
    """A session's live state.

    Attributes:
        id: The session id (a UUID).
        tenant_id, user_id, role: Its owner; tasks run as this principal.
        intent: What the session is for (passed to the tag policy and prompts), if given.
        metadata: The client's JSON object.
        on_busy: What a message does while a task runs.
        created_at: Epoch seconds.
        tasks: Its tasks, oldest first.
        queue: Messages waiting for the running task to end (``enqueue``).
    """

    id: str
    tenant_id: str | None
    user_id: str
    role: str | None
    intent: str | None
    metadata: dict[str, Any]
    on_busy: OnBusy
    created_at: float = field(default_factory=time.time)
    tasks: list[SessionTask] = field(default_factory=list)
    queue: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> SessionState:
        data = json.loads(raw)
        data["tasks"] = [SessionTask(**t) for t in data.get("tasks", [])]
        return cls(**data)


class SessionStore:
    """Reads and writes session states.

    Args:
        redis: The state Redis.
        keys: The key builder.
        ttl_seconds: Lifetime after the last use.
    """

    def __init__(self, redis: Redis, keys: Keys, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def new_id() -> str:
        """A fresh session id."""
        return str(uuid.uuid4())

    async def get(self, session_id: str) -> SessionState:
        """The state, its TTL extended.

        Raises:
            SessionNotFoundError: Unknown or expired.
        """
        try:
            uuid.UUID(session_id)
        except ValueError:
            raise SessionNotFoundError(
                "no such session", details={"session_id": session_id[:100]}
            ) from None
        key = self.keys.session(session_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.expire(key, self.ttl_seconds)
            pipe.expire(self.keys.session_log(session_id), self.ttl_seconds)
            raw, _, _ = await pipe.execute()
        if raw is None:
            raise SessionNotFoundError("no such session", details={"session_id": session_id})
        return SessionState.from_json(raw)

    async def save(self, state: SessionState) -> None:
        """Write the state (with its TTL)."""
        await self.redis.set(self.keys.session(state.id), state.to_json(), ex=self.ttl_seconds)

    async def announce(self, state: SessionState, index: int) -> None:
        """Record that task ``index`` started (wakes the session's event streams)."""
        log = self.keys.session_log(state.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(log, {"task": str(index), "job_id": state.tasks[index].job_id})
            pipe.expire(log, self.ttl_seconds)
            await pipe.execute()

    async def wait_announcement(self, session_id: str, after: str, timeout_seconds: float) -> str:
        """Block until a task starts after log position ``after`` (``"0-0"``: any); returns the
        new position (unchanged on timeout)."""
        reply = await self.redis.xread({self.keys.session_log(session_id): after}, count=100,
                                       block=max(1, int(timeout_seconds * 1000)))  # fmt: skip
        if not reply:
            return after
        entries = reply[0][1]
        last = entries[-1][0]
        return last.decode() if isinstance(last, bytes) else str(last)

    async def log_position(self, session_id: str) -> str:
        """The session log's last position (``"0-0"`` when empty)."""
        last = await self.redis.xrevrange(self.keys.session_log(session_id), count=1)
        if not last:
            return "0-0"
        entry = last[0][0]
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    @asynccontextmanager
    async def locked(self, session_id: str) -> AsyncIterator[None]:
        """Hold the session's lock (one change at a time, across gateways).

        Raises:
            StateError: The lock was not free within ``LOCK_WAIT_SECONDS``.
        """
        key = self.keys.session_lock(session_id)
        token = uuid.uuid4().hex
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not await self.redis.set(key, token, nx=True, px=int(SESSION_LOCK_SECONDS * 1000)):
            if time.monotonic() > deadline:
                raise StateError("the session is locked by another change",
                                 details={"session_id": session_id})  # fmt: skip
            await asyncio.sleep(0.01)  # another request is changing this session
        try:
            yield
        finally:
            if await self.redis.get(key) == token.encode():
                await self.redis.delete(key)


__all__ = ["SESSION_LOCK_SECONDS", "OnBusy", "SessionState", "SessionStore", "SessionTask"]
