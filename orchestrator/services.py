"""The connections one process needs, opened at its entry point and passed down."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from arq.connections import ArqRedis

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.durable.redis import RedisCallStore
from orchestrator.errors import ConfigError
from orchestrator.keys import Keys
from orchestrator.queue.arq import ArqQueue, connect_redis
from orchestrator.state.redis import RedisStateStore

if TYPE_CHECKING:
    from orchestrator.tags import TagSystem
    from orchestrator.trace.store import TraceStore


@dataclass(slots=True)
class Services:
    """Settings, workflows, Redis (queue + state) and the trace store of one process.

    Attributes:
        settings: The process's settings.
        registry: Workflows imported from ``settings.workflows``.
        redis: The shared ``ArqRedis`` client.
        keys: The key builder.
        state: The Redis state store.
        queue: The arq queue.
        trace: The trace store (PostgreSQL or SQLite).
        calls: Durable-call records of steps (DESIGN §13), on the state Redis.
        tags: Tag store, policy cache, resolver and the tool policy (DESIGN §15).
    """

    settings: Settings
    registry: WorkflowRegistry
    redis: ArqRedis
    keys: Keys
    state: RedisStateStore
    queue: ArqQueue
    trace: TraceStore
    calls: RedisCallStore
    tags: TagSystem

    @classmethod
    async def open(
        cls,
        settings: Settings,
        registry: WorkflowRegistry | None = None,
        *,
        defer_trace: bool = False,
    ) -> Services:
        """Connect to Redis and the trace store; no I/O happens until first use.

        Args:
            settings: Must have ``redis.url`` and ``database.url`` set.
            registry: Workflows; imported from ``settings.workflows`` when ``None``.
            defer_trace: Load SQLAlchemy and build the trace store on its first use
                (:class:`~orchestrator.trace.deferred.DeferredTraceStore`): a worker's start.

        Raises:
            ConfigError: A URL is missing or a workflow module cannot be imported.
        """
        if not settings.redis.url:
            raise ConfigError(
                "ORCH_REDIS__URL is not set (e.g. redis://127.0.0.1:6379/0); "
                "`orchestrator dev` starts an embedded Redis when it is unset",
                details={"setting": "ORCH_REDIS__URL"},
            )
        if not settings.database.url:
            raise ConfigError(
                "ORCH_DATABASE__URL is not set (e.g. postgresql+asyncpg://user@host/db); "
                "`orchestrator dev` uses SQLite when it is unset",
                details={"setting": "ORCH_DATABASE__URL"},
            )
        if registry is None:
            registry = WorkflowRegistry.from_modules(settings.workflows)
        register_builtin_workflows(registry)
        redis = connect_redis(settings.redis.url, max_connections=settings.redis.max_connections)
        keys = Keys(settings.state.key_prefix)
        state = RedisStateStore(
            redis,
            keys=keys,
            ttl_seconds=settings.state.ttl_seconds,
            events_maxlen=settings.state.events_maxlen,
            compress_threshold_bytes=settings.state.compress_threshold_bytes,
        )
        queue = ArqQueue(redis, queue_name=settings.queue.name)
        trace: TraceStore
        if defer_trace:
            from orchestrator.trace.deferred import DeferredTraceStore

            deferred = DeferredTraceStore(
                settings.database.url, pool_size=settings.database.pool_size
            )
            trace = cast("TraceStore", deferred)  # the same interface, by delegation
        else:
            from orchestrator.trace.store import TraceStore

            trace = TraceStore.from_url(
                settings.database.url, pool_size=settings.database.pool_size
            )
        calls = RedisCallStore(redis, keys=keys, ttl_seconds=settings.state.ttl_seconds)
        if defer_trace:
            # A worker's start: the tags layer (and jsonschema) loads on first use, off the
            # path to the first job.started (issue 19).
            tags = cast("TagSystem", _DeferredTags(lambda: _open_tags(settings, redis, keys, trace)))
        else:
            tags = _open_tags(settings, redis, keys, trace)
        return cls(settings, registry, redis, keys, state, queue, trace, calls, tags)

    async def close(self) -> None:
        """Close the Redis pool and dispose of the trace store's engine."""
        await self.trace.close()
        await self.redis.aclose(close_connection_pool=True)


def register_builtin_workflows(registry: WorkflowRegistry) -> None:
    """Add the built-in workflows (the ``agent`` workflow, DESIGN §20) unless a workflow of
    that name is already registered."""
    from orchestrator.agents.workflow import AGENT_WORKFLOW, agent

    if AGENT_WORKFLOW not in {wf.name for wf in registry}:
        registry.register(agent)


def _open_tags(settings: Settings, redis: ArqRedis, keys: Keys, trace: TraceStore) -> TagSystem:
    from orchestrator.tags import open_tags  # here: orchestrator.jobs imports this module

    return open_tags(settings.tags, redis, keys, lambda: trace.engine)


class _DeferredTags:
    """A :class:`~orchestrator.tags.TagSystem` built on its first attribute access (from any
    thread; built once)."""

    def __init__(self, build: Callable[[], TagSystem]) -> None:
        self._build = build
        self._system: TagSystem | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        system = self._system
        if system is None:
            with self._lock:
                if self._system is None:
                    self._system = self._build()
                system = self._system
        return getattr(system, name)


__all__ = ["Services", "register_builtin_workflows"]
