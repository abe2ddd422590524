"""Tags: one store for who may use which tool, how, and with which prompt (DESIGN §15).

- :mod:`~orchestrator.tags.model`: the :class:`Tag` model (pydantic, JSON Schema), patterns,
  scopes, intents.
- :mod:`~orchestrator.tags.base`: the :class:`TagStore` seam; :mod:`~orchestrator.tags.store`
  (PostgreSQL/SQLite) and :mod:`~orchestrator.tags.memory` (unit tests) implement it.
- :mod:`~orchestrator.tags.effective`: :class:`EffectivePolicy` and its ``decide``.
- :mod:`~orchestrator.tags.resolver`: principal + intent → tags → effective policy.
- :mod:`~orchestrator.tags.cache`: Redis + in-process cache under per-tenant generations.
- :mod:`~orchestrator.tags.policy`: :class:`TagPolicy`, the MCP plane's ``ToolPolicy``.
- :mod:`~orchestrator.tags.service`: administration (validation, audit, invalidation).

:func:`open_tags` wires them for a process (``Services.tags``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from redis.asyncio import Redis

from orchestrator.config import TagsSettings
from orchestrator.keys import Keys
from orchestrator.tags.base import StoredTag, TagChange, TagStore, TagVersion
from orchestrator.tags.cache import TagCache
from orchestrator.tags.effective import EffectivePolicy, PolicyPrincipal
from orchestrator.tags.memory import MemoryTagStore
from orchestrator.tags.model import Tag, TagKind, parse_tag, tag_json_schema
from orchestrator.tags.policy import (
    TagPolicy,
    actor_of_principal,
    forbidden,
    principal_of,
    refusal_audit,
)
from orchestrator.tags.resolver import TagResolver, resolve_policy
from orchestrator.tags.service import TagService

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True, slots=True)
class TagSystem:
    """The tag components of one process.

    Attributes:
        store: Where tags live.
        cache: The policy cache (invalidate it after writing to ``store`` directly).
        resolver: Principal + intent → effective policy.
        policy: The ``ToolPolicy`` for the MCP manager.
        service: Administration for the API and CLI.
    """

    store: TagStore
    cache: TagCache
    resolver: TagResolver
    policy: TagPolicy
    service: TagService


class _DeferredSqlStore:
    """A :class:`~orchestrator.tags.store.SqlTagStore` built on first use, so that a worker does
    not import SQLAlchemy at start (see :mod:`orchestrator.trace.deferred`)."""

    def __init__(self, engine: AsyncEngine | Callable[[], AsyncEngine]) -> None:
        self._engine = engine
        self._real: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._real is None:
            from orchestrator.tags.store import SqlTagStore

            self._real = SqlTagStore(self._engine)
        return getattr(self._real, name)


def open_tags(
    settings: TagsSettings,
    redis: Redis,
    keys: Keys,
    engine: AsyncEngine | Callable[[], AsyncEngine] | None,
) -> TagSystem:
    """Build the tag components on a process's connections; no I/O happens here.

    Args:
        settings: ``Settings.tags``.
        redis: The state Redis.
        keys: The key builder.
        engine: The trace database's engine (or a callable returning it, for a worker's deferred
            trace store); ``None`` keeps tags in memory (tests, local experiments).
    """
    store = cast(TagStore, MemoryTagStore() if engine is None else _DeferredSqlStore(engine))
    cache = TagCache(redis, keys, ttl_seconds=settings.cache_ttl_seconds,
                     check_interval_seconds=settings.generation_check_seconds)  # fmt: skip
    resolver = TagResolver(store, cache, default_policy=settings.default_policy)
    service = TagService(store, cache, org_admin_tenants=settings.org_admin_tenants)
    return TagSystem(store, cache, resolver, TagPolicy(resolver), service)


__all__ = [
    "EffectivePolicy",
    "MemoryTagStore",
    "PolicyPrincipal",
    "StoredTag",
    "Tag",
    "TagCache",
    "TagChange",
    "TagKind",
    "TagPolicy",
    "TagResolver",
    "TagService",
    "TagStore",
    "TagSystem",
    "TagVersion",
    "actor_of_principal",
    "forbidden",
    "open_tags",
    "parse_tag",
    "principal_of",
    "refusal_audit",
    "resolve_policy",
    "tag_json_schema",
]
